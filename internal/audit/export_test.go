package audit

import "encoding/json"

var jsonUnmarshal = json.Unmarshal
