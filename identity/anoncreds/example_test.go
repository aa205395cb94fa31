package anoncreds_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// A verifier parses what the wallet sent and what the ledger holds, and verifies.
func ExampleVerify() {
	read := func(name string) []byte {
		b, _ := os.ReadFile("testdata/indysdk-ledger/" + name)
		return b
	}
	req, _ := anoncreds.ParsePresentationRequest(read("request.json"))
	pres, err := anoncreds.ParsePresentation(read("presentation.json"))
	if err != nil {
		fmt.Println(err)
		return
	}
	schema, _ := anoncreds.ParseSchema(read("schema.json"))
	credDef, _ := anoncreds.ParseCredentialDefinition(read("creddef.json"))
	id := pres.Identifiers[0]
	res, err := anoncreds.Verify(req, pres, anoncreds.Definitions{
		Schemas:  map[string]*anoncreds.Schema{id.SchemaID: schema},
		CredDefs: map[string]*anoncreds.CredentialDefinition{id.CredDefID: credDef},
	})
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	c := res.Verified.Attributes["c"]
	fmt.Printf("%s = %q from %s\n", c.Name, c.Raw, res.Verified.Credentials[c.SubProof].CredDefID)
	fmt.Println("self-attested (unverified):", len(res.Unverified.SelfAttested))

	req.Nonce = "350088117388834113550941" // another session's nonce
	_, err = anoncreds.Verify(req, pres, anoncreds.Definitions{
		Schemas:  map[string]*anoncreds.Schema{id.SchemaID: schema},
		CredDefs: map[string]*anoncreds.CredentialDefinition{id.CredDefID: credDef},
	})
	var e *anoncreds.Error
	if errors.As(err, &e) {
		fmt.Println("replayed under another nonce:", e.Reason)
	}
	// Output:
	// c = "c" from WpoQirzsNJK2MUZh3NtbF2:3:CL:13054:latest
	// self-attested (unverified): 0
	// replayed under another nonce: challenge_mismatch
}
