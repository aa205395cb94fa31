package registry

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeLedger is a stateful stand-in for an Indy ledger behind indy-vdr-proxy: it answers
// the proxy's routes with replies shaped as indy-node documents them
// (docs/source/requests.md) and indy-vdr-proxy forwards them, and its did:indy resolver
// route as indy-vdr's resolver does. Failures can be injected per request path.
type fakeLedger struct {
	mu       sync.Mutex
	schemas  map[string][]byte // legacy id → GET_SCHEMA reply
	credDefs map[string][]byte // legacy id → GET_CLAIM_DEF reply
	revRegs  map[string][]byte // legacy id → GET_REVOC_REG_DEF reply
	entries  map[string][]fakeEntry
	now      int64 // the ledger's "now" for /rev_reg_delta
	inject   map[string]fakeResponse
	gate     chan struct{} // when set, each request waits for a value (or close)

	requests atomic.Int64
	paths    sync.Map // request URI → *atomic.Int64
}

type fakeEntry struct {
	txnTime         int64
	issued, revoked []int
	accum           string
}

type fakeResponse struct {
	status int
	body   []byte
}

const fakeStateProof = `{"root_hash":"5BU5Rc3sRtTJB6tVprGiTSqiRaa9o6ei11MjH4Vu16ms","proof_nodes":"+QHl+FGAgICg0he/hjc9t/tPFzmCrb2T+nHnN0cRwqPKqZEc3pw2iCaA","multi_signature":{"value":{"timestamp":1700000000,"ledger_id":1,"txn_root_hash":"AKboMiJZJm247Sa7GsKQo5Ba8ukgxuJ5sp6QH8UoxTYJ","pool_state_root_hash":"7siDH8Qanh82UviK4zjBSfLXcoCvLaeGkrByi1ow9Tsm","state_root_hash":"5BU5Rc3sRtTJB6tVprGiTSqiRaa9o6ei11MjH4Vu16ms"},"signature":"QwkoPr9pwXyBdtMMUtJ841QjX3pTEQP6bumBpHg3ZvLk","participants":["Node1","Node2","Node3","Node4"]}}`

func newFakeLedger() *fakeLedger {
	return &fakeLedger{schemas: map[string][]byte{}, credDefs: map[string][]byte{}, revRegs: map[string][]byte{},
		entries: map[string][]fakeEntry{}, inject: map[string]fakeResponse{}, now: 1733400000}
}

func reply(typ string, fields map[string]any) []byte {
	result := map[string]any{"type": typ, "identifier": "LibindyDid111111111111", "reqId": 1733400000123456789,
		"state_proof": json.RawMessage(fakeStateProof)}
	for k, v := range fields {
		result[k] = v
	}
	b, _ := json.Marshal(map[string]any{"op": "REPLY", "result": result})
	return b
}

func (f *fakeLedger) addSchema(nym, name, version string, attrs []string, seqNo int) string {
	id := nym + ":2:" + name + ":" + version
	f.schemas[id] = reply("107", map[string]any{"dest": nym, "seqNo": seqNo, "txnTime": 1733300000,
		"data": map[string]any{"name": name, "version": version, "attr_names": attrs}})
	return id
}

func (f *fakeLedger) addCredDef(nym string, ref int, tag string, value any, seqNo int) string {
	id := nym + ":3:CL:" + strconv.Itoa(ref) + ":" + tag
	f.credDefs[id] = reply("108", map[string]any{"origin": nym, "ref": ref, "signature_type": "CL", "tag": tag,
		"seqNo": seqNo, "txnTime": 1733300100, "data": value})
	return id
}

func (f *fakeLedger) addRevReg(credDefID, tag string, maxCredNum int, issuance string) string {
	nym, _, _ := strings.Cut(credDefID, ":")
	id := nym + ":4:" + credDefID + ":CL_ACCUM:" + tag
	f.revRegs[id] = reply("115", map[string]any{"id": id, "seqNo": 4321, "txnTime": 1733300200, "data": map[string]any{
		"id": id, "revocDefType": "CL_ACCUM", "tag": tag, "credDefId": credDefID, "ver": "1.0",
		"value": map[string]any{"issuanceType": issuance, "maxCredNum": maxCredNum,
			"publicKeys": map[string]any{"accumKey": map[string]any{"z": "1 0BB3DE371F14384496D1F4FEB47B86A935C858BC21033B16251442FCBC5370A1 1 026F2848F2972B74079BEE16CDA9D48AD2FF7C7E39087515CB9B6E9B38D73BCB 1 10C48056D8C226141A8D7030E9FA17B7F02A39B414B9B64B6AECDDA5AFD1E538 1 11AE0A4E8C0C7E35CAB8C7D8E7AB8B3E8F11B7C1AD8E4F6C1E3A8C8A1C2D3E4F 1 1D3E5E9B5BEEE76D9E0D2CE3A8B1F8A4E0AC4B1E5E0D3C2B1A0F9E8D7C6B5A4 1 095E45DDF417D05FB10933FFC63D474548B7FFFF7888802F07FFFFFF7D07A8A8"}},
			"tailsHash":  "EH9YGBXg5gFBsfVkcCRr8G8CFURPVRsQqJoGJmtMZ4H6", "tailsLocation": "https://tails.example.org/hash/EH9YGBXg5gFBsfVkcCRr8G8CFURPVRsQqJoGJmtMZ4H6"}}})
	return id
}

// delta is the GET_REVOC_REG_DELTA reply without "from", up to to.
func (f *fakeLedger) delta(id string, to int64) []byte {
	var (
		state  = map[int]bool{} // index → revoked
		latest *fakeEntry
	)
	for i, e := range f.entries[id] {
		if e.txnTime > to {
			break
		}
		for _, x := range e.issued {
			state[x] = false
		}
		for _, x := range e.revoked {
			state[x] = true
		}
		latest = &f.entries[id][i]
	}
	if latest == nil {
		return reply("117", map[string]any{"revocRegDefId": id, "to": to, "seqNo": nil, "txnTime": nil, "data": nil})
	}
	issued, revoked := []int{}, []int{}
	for x, r := range state {
		if r {
			revoked = append(revoked, x)
		} else {
			issued = append(issued, x)
		}
	}
	sort.Ints(issued)
	sort.Ints(revoked)
	return reply("117", map[string]any{"revocRegDefId": id, "to": to, "seqNo": 4400, "txnTime": latest.txnTime,
		"data": map[string]any{"revocDefType": "CL_ACCUM", "revocRegDefId": id, "value": map[string]any{
			"accum_to": map[string]any{"revocDefType": "CL_ACCUM", "revocRegDefId": id, "txnTime": latest.txnTime, "seqNo": 4400,
				"value": map[string]any{"accum": latest.accum}},
			"issued": issued, "revoked": revoked}}})
}

func (f *fakeLedger) count(uri string) int64 {
	if n, ok := f.paths.Load(uri); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (f *fakeLedger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	n, _ := f.paths.LoadOrStore(r.RequestURI, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if g := f.gate; g != nil {
		<-g
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.inject[r.RequestURI]; ok {
		w.WriteHeader(o.status)
		_, _ = w.Write(o.body)
		return
	}
	if did, ok := strings.CutPrefix(r.RequestURI, "/1.0/identifiers/"); ok {
		f.dereference(w, did)
		return
	}
	// As indy-vdr-proxy does: split the escaped path, then decode each segment.
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		v, err := url.PathUnescape(s)
		if err != nil {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		segs = append(segs, v)
	}
	if len(segs) != 2 {
		http.NotFound(w, r)
		return
	}
	route, id := segs[0], segs[1]
	var body []byte
	switch route {
	case "schema":
		if body = f.schemas[id]; body == nil {
			p := strings.Split(id, ":")
			body = reply("107", map[string]any{"dest": p[0], "seqNo": nil, "txnTime": nil,
				"data": map[string]any{"name": p[len(p)-2], "version": p[len(p)-1]}})
		}
	case "cred_def":
		if body = f.credDefs[id]; body == nil {
			body = reply("108", map[string]any{"origin": strings.Split(id, ":")[0], "seqNo": nil, "data": nil})
		}
	case "rev_reg_def":
		if body = f.revRegs[id]; body == nil {
			body = reply("115", map[string]any{"id": id, "seqNo": nil, "data": nil})
		}
	case "rev_reg_delta":
		body = f.delta(id, f.now)
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// dereference answers indy-vdr-proxy's /1.0/identifiers/{did:indy DID URL} as indy-vdr's
// resolver does: a dereferencing result with the ledger reply in contentMetadata, or 400
// "Object not found".
func (f *fakeLedger) dereference(w http.ResponseWriter, didURL string) {
	didURL, query, _ := strings.Cut(didURL, "?")
	rest, ok := strings.CutPrefix(didURL, "did:indy:")
	head, path, ok2 := strings.Cut(rest, "/anoncreds/v0/")
	if !ok || !ok2 {
		http.Error(w, "Invalid DID URL", http.StatusBadRequest)
		return
	}
	nym := head[strings.LastIndexByte(head, ':')+1:]
	var args []string
	for _, s := range strings.Split(path, "/") {
		v, _ := url.PathUnescape(s)
		args = append(args, v)
	}
	var (
		body    []byte
		objType string
	)
	switch {
	case args[0] == "SCHEMA" && len(args) == 3:
		body, objType = f.schemas[nym+":2:"+args[1]+":"+args[2]], "SCHEMA"
	case args[0] == "CLAIM_DEF" && len(args) == 3:
		body, objType = f.credDefs[nym+":3:CL:"+args[1]+":"+args[2]], "CRED_DEF"
	case args[0] == "REV_REG_DEF" && len(args) == 4:
		body, objType = f.revRegs[nym+":4:"+nym+":3:CL:"+args[1]+":"+args[2]+":CL_ACCUM:"+args[3]], "REVOC_REG_DEF"
	case args[0] == "REV_REG_ENTRY" && len(args) == 4:
		q, _ := url.ParseQuery(query)
		to, err := time.Parse(time.RFC3339, q.Get("to"))
		if err != nil {
			http.Error(w, "Could not parse datetime", http.StatusBadRequest)
			return
		}
		body, objType = f.delta(nym+":4:"+nym+":3:CL:"+args[1]+":"+args[2]+":CL_ACCUM:"+args[3], to.Unix()), "REVOC_REG_DELTA"
	}
	var r struct {
		Result struct {
			Data json.RawMessage `json:"data"`
		} `json:"result"`
	}
	if body != nil {
		_ = json.Unmarshal(body, &r)
	}
	if body == nil || len(r.Result.Data) == 0 || string(r.Result.Data) == "null" {
		http.Error(w, "Resolver error: Object not found", http.StatusBadRequest)
		return
	}
	out, _ := json.MarshalIndent(map[string]any{"dereferencingMetadata": nil, "contentStream": r.Result.Data,
		"contentMetadata": map[string]any{"nodeResponse": json.RawMessage(body), "objectType": objType}}, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// serve starts f on loopback.
func (f *fakeLedger) serve(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func newProxy(t testing.TB, srv *httptest.Server, o HTTPOptions) *IndyVDRProxy {
	p, err := NewIndyVDRProxy(IndyVDRProxyConfig{Ledgers: map[string]string{"sovrin": srv.URL}, LegacyNamespace: "sovrin", HTTPOptions: o}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
