package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// PseudonymPrefix starts every pseudonymous chat identity.
const PseudonymPrefix = "hr_"

var pseudonymEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Pseudonym is the customer's chat identity: "hr_" + base32(HMAC-SHA256(key, holder DID)),
// lower case. It is stable for a customer within a deployment (same key), unlinkable across
// deployments, and reveals nothing of the DID to Twilio or the agent.
func Pseudonym(key []byte, holderDID string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(holderDID))
	return PseudonymPrefix + strings.ToLower(pseudonymEncoding.EncodeToString(mac.Sum(nil)))
}
