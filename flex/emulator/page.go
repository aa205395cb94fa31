package emulator

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Lists, as Twilio pages them: PageSize, Page and PageToken in the query,
// and the page's items under the list's key next to a "meta" envelope whose
// links repeat the list's filters.

// maxPageSize is the largest PageSize most of Twilio's lists honour
// (TaskRouter's allow more); a larger one is lowered to it.
const maxPageSize = 100

// page is one page of a list, as asked by PageSize, Page and PageToken.
type page struct {
	size   int
	index  int
	offset int
}

// parsePage reads Twilio's paging parameters; it writes a 400 and returns
// false when they are malformed. A PageSize above max is lowered to max.
func parsePage(w http.ResponseWriter, q url.Values, max int) (page, bool) {
	p := page{size: 50}
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid PageSize: "+v)
			return page{}, false
		}
		p.size = min(n, max)
	}
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Page: "+v)
			return page{}, false
		}
		p.index = n
	}
	p.offset = p.index * p.size
	if v := q.Get("PageToken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "PT"))
		if !strings.HasPrefix(v, "PT") || err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid PageToken: "+v)
			return page{}, false
		}
		p.offset = n
	}
	return p, true
}

// filteredPage reads what a list request filtered by one query parameter
// asks for: the filter's value ("" when absent), which must be one of
// allowed when allowed is not nil, then the page (see parsePage). filters is
// the filter as the page's links repeat it. On a bad value it has answered
// 400 and returns false.
func filteredPage(w http.ResponseWriter, q url.Values, name string, allowed map[string]bool, max int) (value string, filters url.Values, p page, ok bool) {
	if value, ok = queryParam(w, q, name, allowed); !ok {
		return "", nil, page{}, false
	}
	p, ok = parsePage(w, q, max)
	return value, filtersOf(q, name), p, ok
}

// queryParam returns the optional query parameter name ("" when absent),
// which must be one of allowed when allowed is not nil; on a value that is
// not it has answered 400 and returns false.
func queryParam(w http.ResponseWriter, q url.Values, name string, allowed map[string]bool) (string, bool) {
	v := q.Get(name)
	if v != "" && allowed != nil && !allowed[v] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid "+name+": "+v)
		return "", false
	}
	return v, true
}

// filtersOf returns the parameters among names that q sets: what a list was
// filtered by, which the links of its pages repeat.
func filtersOf(q url.Values, names ...string) url.Values {
	filters := url.Values{}
	for _, name := range names {
		if v := q.Get(name); v != "" {
			filters.Set(name, v)
		}
	}
	return filters
}

// matches reports whether got passes an optional filter: want is "" (no
// filter) or got is want.
func matches(want, got string) bool { return want == "" || got == want }

// listIn answers a list of what one resource holds (a chat's members or
// messages, a user's channels), checking first the page asked for (a bad
// one answers 400), then the holder, found by find (which answers its own
// error). write writes page p of the holder's list. e.mu must be held.
func listIn[T any](w http.ResponseWriter, r *http.Request, find finder[T], write func(p page, holder T)) {
	p, ok := parsePage(w, r.URL.Query(), maxPageSize)
	if !ok {
		return
	}
	if holder, ok := find(w, r); ok {
		write(p, holder)
	}
}

// writePage answers a list request: page p of all, each item turned into its
// JSON by item, under key, with Twilio's meta for the list at base and its
// filters.
func writePage[T, J any](w http.ResponseWriter, p page, key, base string, filters url.Values, all []T, item func(T) J) {
	items := make([]J, 0, p.size)
	for _, x := range window(all, p) {
		items = append(items, item(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{key: items, "meta": p.meta(key, base, filters, len(all))})
}

// window returns the items of page p.
func window[T any](all []T, p page) []T {
	if p.offset >= len(all) {
		return nil
	}
	return all[p.offset:min(p.offset+p.size, len(all))]
}

// meta is Twilio's paging envelope for page p of total items.
func (p page) meta(key, base string, filters url.Values, total int) map[string]any {
	link := func(index, offset int) string {
		v := url.Values{}
		for k, vs := range filters {
			v[k] = vs
		}
		v.Set("PageSize", strconv.Itoa(p.size))
		v.Set("Page", strconv.Itoa(index))
		if offset > 0 {
			v.Set("PageToken", "PT"+strconv.Itoa(offset))
		}
		return base + "?" + v.Encode()
	}
	var next, prev *string
	if p.offset+p.size < total {
		s := link(p.index+1, p.offset+p.size)
		next = &s
	}
	if p.offset > 0 {
		s := link(max(p.index-1, 0), max(p.offset-p.size, 0))
		prev = &s
	}
	return map[string]any{
		"page":              p.index,
		"page_size":         p.size,
		"first_page_url":    link(0, 0),
		"previous_page_url": prev,
		"url":               link(p.index, p.offset),
		"next_page_url":     next,
		"key":               key,
	}
}

// messageOrders are the values of a message list's Order.
var messageOrders = map[string]bool{"asc": true, "desc": true}

// inOrder returns messages oldest first, or newest first when desc, with the
// filters the page's links repeat.
func inOrder[T any](messages []T, desc bool) ([]T, url.Values) {
	filters := url.Values{}
	if !desc {
		return messages, filters
	}
	filters.Set("Order", "desc")
	return reversed(messages), filters
}

func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
