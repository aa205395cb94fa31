# Longer runs than CI's. The fuzz targets' seed corpora already run in `go test ./...`;
# `make fuzz` explores beyond them (FUZZTIME per target).
FUZZTIME ?= 2m
FUZZ_PKGS = ./identity ./identity/didcomm ./identity/didcomm/internal/rfcholder ./flex ./broker/redisstore

.PHONY: test fuzz bench

test:
	go test ./...

fuzz:
	@for p in $(FUZZ_PKGS); do \
	  for f in $$(go test $$p -list '^Fuzz' | grep '^Fuzz'); do \
	    echo "== $$p $$f ($(FUZZTIME))"; \
	    go test $$p -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s || exit 1; \
	  done; \
	done

bench:
	go test ./identity -run '^$$' -bench 'VerifyFormats|VerifyLD' -count 6
	go test ./cmd/hearro -run '^$$' -bench SessionToBound -benchtime 100x -count 3
	go test ./cmd/hearro -run '^$$' -bench IdentityLookupLoad -benchtime 1x -count 6
	go test ./broker/redisstore -run '^$$' -bench 'CreateSession|Transition|Identity$$|IdentityMemory' -count 6
	go test ./cmd/hearro -run '^$$' -bench CrossReplicaEvent -count 6
