package rfcholder

import (
	"strings"
	"testing"
)

const requestPresentation = `{"@id":"req-1","@type":"https://didcomm.org/present-proof/2.0/request-presentation","will_confirm":true,` +
	`"formats":[{"attach_id":"definition","format":"dif/presentation-exchange/definitions@v1.0"}],` +
	`"request_presentations~attach":[{"@id":"definition","mime-type":"application/json","data":{"json":` +
	`{"options":{"challenge":"nonce-1","domain":"https://verifier.example"},"presentation_definition":{"id":"def-1","input_descriptors":[]}}}}]}`

func TestParsePresentationRequest(t *testing.T) {
	msg, err := parseMessage([]byte(requestPresentation))
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParsePresentationRequest(msg)
	if err != nil {
		t.Fatal(err)
	}
	if req.ThreadID != "req-1" || req.Challenge != "nonce-1" || req.Domain != "https://verifier.example" || req.DefinitionID != "def-1" || !req.WillConfirm {
		t.Errorf("%+v", req)
	}
	for name, bad := range map[string]string{
		"no challenge":          strings.Replace(requestPresentation, `"challenge":"nonce-1",`, "", 1),
		"no definitions format": strings.Replace(requestPresentation, "definitions@v1.0", "submission@v1.0", 1),
		"byte-array data.json":  strings.Replace(requestPresentation, `"data":{"json":{"options"`, `"data":{"json":[123],"x":{"options"`, 1),
	} {
		m, err := parseMessage([]byte(bad))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := ParsePresentationRequest(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParsePresentationRequest(f *testing.F) {
	f.Add([]byte(requestPresentation))
	f.Add([]byte(`{"@id":"x","@type":"y","~thread":{"thid":""},"formats":[{"attach_id":"a","format":"dif/presentation-exchange/definitions@v1.0"}],"request_presentations~attach":[{"@id":"a","data":{"base64":"e30"}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := parseMessage(raw)
		if err != nil {
			return
		}
		_, _ = ParsePresentationRequest(m)
	})
}
