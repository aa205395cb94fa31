package emulator

import (
	"net/http"
	"net/url"
)

// The shapes of the handlers of a single resource, written once. Each takes
// what differs between resources: a finder for the resource of the request
// (see lookup), what changes it, and its JSON. Like every handler of the
// API, they run holding e.mu.

// fetch serves the fetch of the resource find finds, answered 200 as show
// makes it.
func fetch[T, J any](find finder[T], show func(T) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v, ok := find(w, r); ok {
			writeJSON(w, http.StatusOK, show(v))
		}
	}
}

// update serves the update of the resource find finds from the request's
// form, checked in this order: first the form on its own
// (check answers 400 to a bad one; nil when there is nothing to check),
// then whether the resource exists, then apply, which changes the resource
// as the form says or answers why it cannot and returns false. The answer
// is the changed resource, 200, as show makes it.
func update[T, J any](check func(http.ResponseWriter, url.Values) bool, find finder[T], apply func(http.ResponseWriter, *http.Request, T) bool, show func(T) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if check != nil && !check(w, r.PostForm) {
			return
		}
		if v, ok := find(w, r); ok && apply(w, r, v) {
			writeJSON(w, http.StatusOK, show(v))
		}
	}
}

// setFromForm sets *dst to the form's value of name when the form sends
// name, even empty, as Twilio's updates do.
func setFromForm(form url.Values, name string, dst *string) {
	if v, ok := form[name]; ok {
		*dst = v[0]
	}
}
