package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/storekit"
)

var _ broker.Outbox = (*Store)(nil)

// A queued delivery is a hash (prefix:{b}:ob:q:<ID>) of six or seven fields:
//
//	j  the JSON of the delivery without payload, attempts, next attempt and last error (its
//	   Subject included)
//	p  the payload's bytes, as given (a payload is the event as its receiver gets it: it is
//	   kept byte for byte, not re-encoded)
//	a  attempts (decimal)
//	n  next attempt (RFC 3339 with nanoseconds and the zone's offset)
//	e  last error
//	m  its member of the due index
//	s  its Subject, if it has one (for the scripts, which do not parse j)
//
// Retry and Bury change a, n and e in place, without reading the record first. A dead letter
// (prefix:{b}:ob:x:<ID>) is the same hash without m.
//
// A delivery with a Subject is also a member (its ID) of the subject's set,
// prefix:{b}:ob:s:<subject>, from the moment it is queued until Done removes it or the erasure
// of its subject removes it and the set; a dead letter stays in the set. DeleteIdentity reads
// the set, and removes each delivery whose s is still the subject (a set never outlives its
// last member, and an entry that names a delivery about someone else is ignored).
//
// The due index (prefix:{b}:ob:due) is a sorted set. A delivery's score is the Unix
// millisecond of its due time (NextAttempt, or the end of its lease while it is leased), which
// a double holds exactly; its member is the nanoseconds within that millisecond as six digits,
// then its ID. Redis orders members of one score by their bytes, so the set is in (due time,
// ID) order to the nanosecond, and Lease compares due times with the now it is given, never
// with Redis's clock.

// maxDueSeconds bounds the due times the index can hold: their Unix milliseconds must be exact
// as doubles (2⁵³), some 285,000 years either side of 1970.
const maxDueSeconds = (1 << 53) / 1000

// dueAt returns the score and the member of the due index of delivery id due at t.
func dueAt(t time.Time, id string) (score, member string, err error) {
	if sec := t.Unix(); sec > maxDueSeconds || sec < -maxDueSeconds {
		return "", "", fmt.Errorf("delivery %q: due time %v is out of range", id, t)
	}
	return strconv.FormatInt(t.UnixMilli(), 10), subMilli(t) + id, nil
}

// subMilli returns the nanoseconds of t within its millisecond, as six digits.
func subMilli(t time.Time) string { return fmt.Sprintf("%06d", t.Nanosecond()%1e6) }

// deliveryFields returns the fields a, n and e of d.
func deliveryFields(d *broker.Delivery) (attempts, next, lastError string, err error) {
	n, err := d.NextAttempt.MarshalText()
	if err != nil {
		return "", "", "", fmt.Errorf("delivery %q: next attempt: %w", d.ID, err)
	}
	return strconv.Itoa(d.Attempts), string(n), d.LastError, nil
}

// outboxArgs returns the keys and arguments the write scripts take to queue ds (see luaQueue):
// the due index then each delivery's record, dead-letter record and subject set (its record
// again if it has no Subject); the number of deliveries then each one's fields, its member of
// the due index, its score and its Subject. Every delivery needs an ID and no ID may be given
// twice (broker.ErrExists).
func (s *Store) outboxArgs(ds []broker.Delivery) ([]string, []any, error) {
	keys := make([]string, 0, 1+3*len(ds))
	args := make([]any, 0, 1+8*len(ds))
	keys = append(keys, s.keys.outboxDue())
	args = append(args, len(ds))
	var check storekit.Outbox
	for i := range ds {
		d := &ds[i]
		if err := check.CheckID(d); err != nil {
			return nil, nil, err
		}
		if err := storekit.CheckPayload(d); err != nil {
			return nil, nil, err
		}
		meta := *d
		meta.Payload, meta.Attempts, meta.NextAttempt, meta.LastError = nil, 0, time.Time{}, ""
		j, err := json.Marshal(&meta)
		if err != nil {
			return nil, nil, fmt.Errorf("delivery %q: %w", d.ID, err)
		}
		a, n, e, err := deliveryFields(d)
		if err != nil {
			return nil, nil, err
		}
		score, member, err := dueAt(d.NextAttempt, d.ID)
		if err != nil {
			return nil, nil, err
		}
		subjectSet := s.keys.outbox(d.ID) // declared, not written
		if d.Subject != "" {
			subjectSet = s.keys.outboxSubject(d.Subject)
		}
		keys = append(keys, s.keys.outbox(d.ID), s.keys.deadLetter(d.ID), subjectSet)
		args = append(args, j, []byte(d.Payload), a, n, e, member, score, d.Subject)
	}
	return keys, args, nil
}

// decodeDeliveries decodes a script's answer of {ID, j, p, a, n, e, …}.
func decodeDeliveries(res []any) ([]broker.Delivery, error) {
	if len(res)%6 != 0 {
		return nil, fmt.Errorf("unexpected script answer of %d items", len(res))
	}
	out := make([]broker.Delivery, 0, len(res)/6)
	for i := 0; i < len(res); i += 6 {
		var f [6]string
		for j := range f {
			f[j], _ = res[i+j].(string)
		}
		var d broker.Delivery
		if err := json.Unmarshal([]byte(f[1]), &d); err != nil {
			return nil, fmt.Errorf("delivery %q: corrupt record: %w", f[0], err)
		}
		if d.ID != f[0] {
			return nil, fmt.Errorf("delivery %q: corrupt record: it names %q", f[0], d.ID)
		}
		d.Payload = nil
		if f[2] != "" {
			d.Payload = json.RawMessage(f[2])
		}
		var err error
		if d.Attempts, err = strconv.Atoi(f[3]); err != nil {
			return nil, fmt.Errorf("delivery %q: corrupt attempts: %w", f[0], err)
		}
		if err := d.NextAttempt.UnmarshalText([]byte(f[4])); err != nil {
			return nil, fmt.Errorf("delivery %q: corrupt next attempt: %w", f[0], err)
		}
		d.LastError = f[5]
		out = append(out, d)
	}
	return out, nil
}

// Lease returns up to n deliveries due at now (NextAttempt, or the end of an earlier lease, not
// after now) in (due time, ID) order and makes each due at now+lease instead, in one script:
// one round trip. Redis runs one script at a time, so no two Lease calls — of this process or
// another — get the same delivery within its lease. Due times are compared with now, not with
// Redis's clock: replicas whose clocks disagree by more than a lease can lease one delivery
// twice. n and lease must be positive.
func (s *Store) Lease(ctx context.Context, now time.Time, n int, lease time.Duration) ([]broker.Delivery, error) {
	if n <= 0 || lease <= 0 {
		return nil, fmt.Errorf("redisstore: lease deliveries: n %d and lease %v must be positive", n, lease)
	}
	until := now.Add(lease)
	untilScore, _, err := dueAt(until, "")
	if err != nil {
		return nil, fmt.Errorf("redisstore: lease deliveries: %w", err)
	}
	nowScore, _, err := dueAt(now, "")
	if err != nil {
		return nil, fmt.Errorf("redisstore: lease deliveries: %w", err)
	}
	res, err := scriptLease.Run(ctx, s.client, []string{s.keys.outboxDue()},
		nowScore, now.Nanosecond()%1e6, n, untilScore, subMilli(until), s.keys.outboxPrefix()).Slice()
	if err != nil {
		return nil, s.errf(err, "lease deliveries")
	}
	out, err := decodeDeliveries(res)
	if err != nil {
		return nil, fmt.Errorf("redisstore: lease deliveries: %w", err)
	}
	for i := range out {
		out[i].LeasedUntil = until
	}
	return out, nil
}

// leaseArgs are the script arguments that say which lease d holds: the due index member and
// score of its end, or empty strings for a delivery that holds none (no check).
func leaseArgs(d *broker.Delivery) (score, member string, err error) {
	if d.LeasedUntil.IsZero() {
		return "", "", nil
	}
	return dueAt(d.LeasedUntil, d.ID)
}

// Done removes a queued delivery, with its member of the due index and of its subject's set,
// in one script; an ID that is not queued is not an error.
func (s *Store) Done(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := scriptDone.Run(ctx, s.client, []string{s.keys.outbox(id), s.keys.outboxDue()},
		id, s.keys.outboxSubjectPrefix()).Err(); err != nil {
		return s.errf(err, "delivery %q done", id)
	}
	return nil
}

// Retry stores d's Attempts, NextAttempt and LastError in the queued delivery with d's ID
// (whose other fields, Subject included, stay as queued) and makes it due at NextAttempt, ending any lease, in
// one script. It fails with broker.ErrNotFound if the delivery is not queued.
func (s *Store) Retry(ctx context.Context, d broker.Delivery) error {
	if d.ID == "" {
		return fmt.Errorf("redisstore: retry delivery: empty ID: %w", broker.ErrNotFound)
	}
	a, n, e, err := deliveryFields(&d)
	if err != nil {
		return fmt.Errorf("redisstore: retry: %w", err)
	}
	score, member, err := dueAt(d.NextAttempt, d.ID)
	if err != nil {
		return fmt.Errorf("redisstore: retry: %w", err)
	}
	leaseScore, leaseMember, err := leaseArgs(&d)
	if err != nil {
		return fmt.Errorf("redisstore: retry: %w", err)
	}
	status, err := scriptRetry.Run(ctx, s.client, []string{s.keys.outbox(d.ID), s.keys.outboxDue()},
		a, n, e, member, score, leaseMember, leaseScore).Text()
	return s.outboxStatus(status, err, "retry", d.ID)
}

// Bury moves the queued delivery with d's ID to the dead letters, with d's Attempts and
// LastError (its other fields, NextAttempt and Subject included, stay as queued, and so does
// its member of the subject's set), in one script. It fails
// with broker.ErrNotFound if the delivery is not queued.
func (s *Store) Bury(ctx context.Context, d broker.Delivery) error {
	if d.ID == "" {
		return fmt.Errorf("redisstore: bury delivery: empty ID: %w", broker.ErrNotFound)
	}
	leaseScore, leaseMember, err := leaseArgs(&d)
	if err != nil {
		return fmt.Errorf("redisstore: bury: %w", err)
	}
	k := s.keys
	status, err := scriptBury.Run(ctx, s.client,
		[]string{k.outbox(d.ID), k.outboxDue(), k.deadLetter(d.ID), k.deadLetters()},
		d.Attempts, d.LastError, d.ID, leaseMember, leaseScore).Text()
	return s.outboxStatus(status, err, "bury", d.ID)
}

func (s *Store) outboxStatus(status string, err error, what, id string) error {
	switch {
	case err != nil:
		return s.errf(err, "%s delivery %q", what, id)
	case status == statusOK:
		return nil
	case status == statusLeaseLost:
		return fmt.Errorf("redisstore: %s delivery %q: %w", what, id, broker.ErrLeaseLost)
	case status == statusNotFound:
		return fmt.Errorf("redisstore: %s: delivery %q: %w", what, id, broker.ErrNotFound)
	}
	return fmt.Errorf("redisstore: %s delivery %q: unexpected script answer %q", what, id, status)
}

// DeadLetters returns up to limit dead letters in ID order, starting after the ID after (""
// for the start; an ID that is not a dead letter is a position), in one script.
func (s *Store) DeadLetters(ctx context.Context, after string, limit int) ([]broker.Delivery, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("redisstore: dead letters: limit %d is not positive", limit)
	}
	res, err := scriptDeadLetters.Run(ctx, s.client, []string{s.keys.deadLetters()},
		after, limit, s.keys.deadLetterPrefix()).Slice()
	if err != nil {
		return nil, s.errf(err, "dead letters")
	}
	out, err := decodeDeliveries(res)
	if err != nil {
		return nil, fmt.Errorf("redisstore: dead letters: %w", err)
	}
	return out, nil
}
