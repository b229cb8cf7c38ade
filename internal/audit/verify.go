package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// VerifyOptions adjusts Verify. The zero value checks the chain alone.
type VerifyOptions struct {
	// Head, when set, is a hash recorded earlier: the log must still
	// contain the line with that hash, which catches lines cut off the end
	// up to that point.
	Head string
}

// Report summarizes a log that verified.
type Report struct {
	Records int    // number of lines
	Head    string // hash of the last line; Genesis for an empty log
}

// Verify reads a whole log and checks every line's hash, its link to the
// line before and its sequence number. The first bad line is reported as
// a *VerifyError naming the line and what is wrong with it.
func Verify(r io.Reader, opts VerifyOptions) (*Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	rep := &Report{Head: Genesis}
	var seq uint64
	headSeen := opts.Head == ""
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			var ve *VerifyError
			if errors.As(err, &ve) {
				ve.Line = n
			}
			return rep, err
		}
		bad := func(format string, args ...any) error {
			return &VerifyError{Line: n, Reason: fmt.Sprintf(format, args...)}
		}
		if len(line) == 0 {
			return rep, bad("empty line: something was inserted")
		}
		lk, reason := open(line)
		if lk == nil {
			return rep, bad("%s", reason)
		}
		switch {
		case lk.Seq != seq+1 && lk.Prev != rep.Head:
			return rep, bad("seq %d and prev do not follow line %d (seq %d): lines were deleted, inserted or reordered", lk.Seq, n-1, seq)
		case lk.Prev != rep.Head:
			return rep, bad("prev %.12s… is not the hash of line %d (%.12s…): lines were deleted, inserted or reordered", lk.Prev, n-1, rep.Head)
		case lk.Seq != seq+1:
			return rep, bad("seq %d after %d", lk.Seq, seq)
		}
		seq = lk.Seq
		rep.Head = lk.hash
		rep.Records = n
		if lk.hash == opts.Head {
			headSeen = true
		}
	}
	if !headSeen {
		return rep, &VerifyError{Line: rep.Records + 1, Reason: fmt.Sprintf("the recorded head %.12s… is not in the log: lines were cut off the end", opts.Head)}
	}
	return rep, nil
}

// readLine returns the next line without its newline, io.EOF at the end,
// and a *VerifyError (line number unset) for a line that is too long or
// has no newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine+1 {
			return nil, &VerifyError{Reason: fmt.Sprintf("longer than %d bytes", MaxLine)}
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(line, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, &VerifyError{Reason: ErrIncompleteTail.Error() + " (no newline): a write was cut short or the file was truncated"}
		default:
			return nil, err
		}
	}
}
