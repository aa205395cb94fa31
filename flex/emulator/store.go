package emulator

import "net/http"

// keyed is a resource the emulator keeps in a table.
type keyed interface {
	comparable
	// keys returns the resource's SID and the name it can also be found by:
	// a unique name or an identity, "" when it has none.
	keys() (sid, name string)
}

// table keeps the resources of one kind: by SID, in the order they were
// made, and by name. Its zero value is empty and ready. Emulator.mu guards
// it.
type table[T keyed] struct {
	bySID map[string]T
	order []T
}

// add keeps v, the newest of its kind.
func (t *table[T]) add(v T) {
	sid, _ := v.keys()
	if t.bySID == nil {
		t.bySID = map[string]T{}
	}
	t.bySID[sid] = v
	t.order = append(t.order, v)
}

// remove drops v.
func (t *table[T]) remove(v T) {
	sid, _ := v.keys()
	delete(t.bySID, sid)
	for i, x := range t.order {
		if x == v {
			t.order = append(t.order[:i:i], t.order[i+1:]...)
			return
		}
	}
}

// all returns every resource, oldest first. The slice is the table's own:
// read it, do not change it.
func (t *table[T]) all() []T { return t.order }

// where returns, oldest first, the resources keep accepts.
func (t *table[T]) where(keep func(T) bool) []T {
	var out []T
	for _, v := range t.order {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// withSID returns the resource with that SID; the zero T when none has it.
func (t *table[T]) withSID(sid string) T { return t.bySID[sid] }

// named returns the oldest resource whose name is name; the zero T when none
// has it. No resource is named "".
func (t *table[T]) named(name string) T {
	var none T
	if name == "" {
		return none
	}
	for _, v := range t.order {
		if _, n := v.keys(); n == name {
			return v
		}
	}
	return none
}

// get returns the resource whose SID is key or, when none has that SID, the
// one whose name it is, as Twilio finds a resource by either in a path.
func (t *table[T]) get(key string) T {
	if v, ok := t.bySID[key]; ok {
		return v
	}
	return t.named(key)
}

// finder finds the resource a request is about; when there is none, or the
// caller may not see it, it has answered the error and returns false.
type finder[T any] func(http.ResponseWriter, *http.Request) (T, bool)

// lookup returns the resource of t that key names (see get); when there is
// none it answers Twilio's 404 for r and returns false.
func lookup[T keyed](w http.ResponseWriter, r *http.Request, t *table[T], key string) (T, bool) {
	v := t.get(key)
	var none T
	if v == none {
		notFound(w, r)
		return none, false
	}
	return v, true
}

// singleton finds a resource the account has exactly one of (its web chat
// address, a service): the request's path value name must be its SID, sid;
// when it is not, it answers Twilio's 404.
func singleton(name, sid string) finder[string] {
	return func(w http.ResponseWriter, r *http.Request) (string, bool) {
		return sid, pathIs(w, r, name, sid)
	}
}

// pathIs reports whether the request's path value name is want, the one such
// resource the account has (its web chat address, a service, the
// workspace); when it is not, it answers Twilio's 404 for r.
func pathIs(w http.ResponseWriter, r *http.Request, name, want string) bool {
	if r.PathValue(name) != want {
		notFound(w, r)
		return false
	}
	return true
}
