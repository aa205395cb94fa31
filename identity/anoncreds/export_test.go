package anoncreds

import "math/big"

// VerifyWithoutRanges is Verify without the response range checks, for the test that shows
// what they stop.
func VerifyWithoutRanges(req *PresentationRequest, pres *Presentation, defs Definitions) (*Result, error) {
	return verify(req, pres, defs, clOpts{skipRanges: true})
}

// VerifyRecording is Verify that hands every modular exponentiation to record, for the
// benchmark of the bare exponentiations.
func VerifyRecording(req *PresentationRequest, pres *Presentation, defs Definitions, record func(base, exp, mod *big.Int)) (*Result, error) {
	return verify(req, pres, defs, clOpts{record: record})
}
