package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// TaskRouter's routing, as far as Flex chats need it: the workspace's
// workflows (whose configuration routes a new task to a queue), its task
// queues and its task channels. A task is created by a web chat address's
// Studio flow (see studioflow.go) or, in legacy Flex, a Flex Flow; either
// way routeTask puts it in the queue of the first task_routing filter whose
// expression matches its attributes, else the default filter's.

// WorkflowConfigurationTemplate is the configuration of the emulated
// workspace's workflow, the one flex/studio/workflow.json ships (a test of
// package flex checks they are the same): verified customers go to the
// "Verified customers" queue, everyone else to "Everyone". The placeholders
// are the queues' SIDs.
const WorkflowConfigurationTemplate = `{
  "task_routing": {
    "filters": [
      {
        "filter_friendly_name": "Verified customers",
        "expression": "verification.verified == true",
        "targets": [
          {
            "queue": "${VERIFIED_QUEUE_SID}"
          }
        ]
      }
    ],
    "default_filter": {
      "queue": "${EVERYONE_QUEUE_SID}"
    }
  }
}
`

// Queue names of the emulated workspace.
const (
	QueueEveryone = "Everyone"
	QueueVerified = "Verified customers"
)

type workflow struct {
	sid           string
	friendlyName  string
	configuration string // JSON
	created       time.Time
	updated       time.Time
}

func (w *workflow) keys() (string, string) { return w.sid, "" }

type taskQueue struct {
	sid          string
	friendlyName string
	created      time.Time
}

func (q *taskQueue) keys() (string, string) { return q.sid, "" }

type taskChannel struct {
	sid          string
	uniqueName   string
	friendlyName string
	created      time.Time
}

func (c *taskChannel) keys() (string, string) { return c.sid, c.uniqueName }

// workflowConfig is the part of a workflow's configuration the emulator
// reads.
type workflowConfig struct {
	TaskRouting *struct {
		Filters []struct {
			FriendlyName string `json:"filter_friendly_name"`
			Expression   string `json:"expression"`
			Targets      []struct {
				Queue string `json:"queue"`
			} `json:"targets"`
		} `json:"filters"`
		DefaultFilter *struct {
			Queue string `json:"queue"`
		} `json:"default_filter"`
	} `json:"task_routing"`
}

// parseWorkflowConfig checks a workflow configuration as TaskRouter does on
// an update: JSON, task_routing present, every expression understood and
// every queue one of the workspace's. e.mu must be held.
func (e *Emulator) parseWorkflowConfig(raw string) (workflowConfig, error) {
	var cfg workflowConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return cfg, errors.New("configuration is not valid JSON")
	}
	if cfg.TaskRouting == nil {
		return cfg, errors.New("configuration has no task_routing")
	}
	queue := func(sid string) error {
		if e.queues.withSID(sid) == nil {
			return fmt.Errorf("configuration names queue %q, which is not in the workspace", sid)
		}
		return nil
	}
	for i, f := range cfg.TaskRouting.Filters {
		if _, err := parseExpr(f.Expression); err != nil {
			return cfg, fmt.Errorf("filter %d: %w", i, err)
		}
		if len(f.Targets) == 0 {
			return cfg, fmt.Errorf("filter %d has no targets", i)
		}
		for _, t := range f.Targets {
			if err := queue(t.Queue); err != nil {
				return cfg, fmt.Errorf("filter %d: %w", i, err)
			}
		}
	}
	if d := cfg.TaskRouting.DefaultFilter; d != nil {
		if err := queue(d.Queue); err != nil {
			return cfg, fmt.Errorf("default_filter: %w", err)
		}
	}
	return cfg, nil
}

// routeTask puts t in the queue its workflow's configuration chooses for
// its attributes; e.mu must be held. A configuration or expression the
// emulator cannot evaluate leaves the task in the default queue and is
// returned, for the caller to report.
func (e *Emulator) routeTask(t *task) error {
	wf := e.workflows.withSID(t.workflowSID)
	if wf == nil {
		wf = e.workflows.withSID(e.cfg.WorkflowSID)
		t.workflowSID = wf.sid
	}
	t.queueSID = e.queueSID // Everyone, unless the workflow says otherwise
	cfg, err := e.parseWorkflowConfig(wf.configuration)
	if err != nil {
		return fmt.Errorf("workflow %s: %w", wf.sid, err)
	}
	attrs := decodeAttrs(t.attributes)
	for _, f := range cfg.TaskRouting.Filters {
		ok, err := evalExpr(f.Expression, attrs)
		if err != nil {
			return fmt.Errorf("workflow %s: %w", wf.sid, err)
		}
		if ok {
			t.queueSID = f.Targets[0].Queue
			return nil
		}
	}
	if d := cfg.TaskRouting.DefaultFilter; d != nil {
		t.queueSID = d.Queue
	}
	return nil
}

// newRouting makes the workspace's queues, task channels and workflow;
// called once by New.
func (e *Emulator) newRouting(now time.Time) {
	verified := newSID("WQ")
	e.queues.add(&taskQueue{sid: e.queueSID, friendlyName: QueueEveryone, created: now})
	e.queues.add(&taskQueue{sid: verified, friendlyName: QueueVerified, created: now})
	for _, name := range []string{"default", "voice", "chat", "sms", "video", "email"} {
		sid := newSID("TC")
		if name == "chat" {
			sid = e.taskChannelSID
		}
		e.taskChannels.add(&taskChannel{sid: sid, uniqueName: name, friendlyName: strings.ToUpper(name[:1]) + name[1:], created: now})
	}
	config := strings.NewReplacer("${VERIFIED_QUEUE_SID}", verified, "${EVERYONE_QUEUE_SID}", e.queueSID).Replace(WorkflowConfigurationTemplate)
	e.workflows.add(&workflow{sid: e.cfg.WorkflowSID, friendlyName: "Assign to Anyone", configuration: config, created: now, updated: now})
}

// The TaskRouter handlers.

type workflowJSON struct {
	AccountSID                    string            `json:"account_sid"`
	AssignmentCallbackURL         *string           `json:"assignment_callback_url"`
	Configuration                 string            `json:"configuration"`
	DateCreated                   string            `json:"date_created"`
	DateUpdated                   string            `json:"date_updated"`
	DocumentContentType           string            `json:"document_content_type"`
	FallbackAssignmentCallbackURL *string           `json:"fallback_assignment_callback_url"`
	FriendlyName                  string            `json:"friendly_name"`
	SID                           string            `json:"sid"`
	TaskReservationTimeout        int               `json:"task_reservation_timeout"`
	WorkspaceSID                  string            `json:"workspace_sid"`
	URL                           string            `json:"url"`
	Links                         map[string]string `json:"links"`
}

type taskQueueJSON struct {
	AccountSID              string            `json:"account_sid"`
	AssignmentActivitySID   *string           `json:"assignment_activity_sid"`
	AssignmentActivityName  *string           `json:"assignment_activity_name"`
	DateCreated             string            `json:"date_created"`
	DateUpdated             string            `json:"date_updated"`
	FriendlyName            string            `json:"friendly_name"`
	MaxReservedWorkers      int               `json:"max_reserved_workers"`
	ReservationActivitySID  *string           `json:"reservation_activity_sid"`
	ReservationActivityName *string           `json:"reservation_activity_name"`
	SID                     string            `json:"sid"`
	TargetWorkers           string            `json:"target_workers"`
	TaskOrder               string            `json:"task_order"`
	URL                     string            `json:"url"`
	WorkspaceSID            string            `json:"workspace_sid"`
	Links                   map[string]string `json:"links"`
}

type taskChannelJSON struct {
	AccountSID              string            `json:"account_sid"`
	DateCreated             string            `json:"date_created"`
	DateUpdated             string            `json:"date_updated"`
	FriendlyName            string            `json:"friendly_name"`
	SID                     string            `json:"sid"`
	UniqueName              string            `json:"unique_name"`
	WorkspaceSID            string            `json:"workspace_sid"`
	ChannelOptimizedRouting *bool             `json:"channel_optimized_routing"`
	URL                     string            `json:"url"`
	Links                   map[string]string `json:"links"`
}

func (e *Emulator) workspaceURL() string { return taskrouterAPI + "/Workspaces/" + e.cfg.WorkspaceSID }

func (e *Emulator) workflowJSON(w *workflow) workflowJSON {
	u := e.workspaceURL() + "/Workflows/" + w.sid
	return workflowJSON{
		AccountSID: e.cfg.AccountSID, Configuration: w.configuration,
		DateCreated: timestamp(w.created), DateUpdated: timestamp(w.updated),
		DocumentContentType: "application/json", FriendlyName: w.friendlyName, SID: w.sid,
		TaskReservationTimeout: 120, WorkspaceSID: e.cfg.WorkspaceSID, URL: u,
		Links: map[string]string{
			"statistics":            u + "/Statistics",
			"real_time_statistics":  u + "/RealTimeStatistics",
			"cumulative_statistics": u + "/CumulativeStatistics",
			"workspace":             e.workspaceURL(),
		},
	}
}

func (e *Emulator) taskQueueJSON(q *taskQueue) taskQueueJSON {
	u := e.workspaceURL() + "/TaskQueues/" + q.sid
	return taskQueueJSON{
		AccountSID: e.cfg.AccountSID, DateCreated: timestamp(q.created), DateUpdated: timestamp(q.created),
		FriendlyName: q.friendlyName, MaxReservedWorkers: 1, SID: q.sid, TargetWorkers: "1==1",
		TaskOrder: "FIFO", URL: u, WorkspaceSID: e.cfg.WorkspaceSID,
		Links: map[string]string{
			"assignment_activity":  e.workspaceURL() + "/Activities",
			"reservation_activity": e.workspaceURL() + "/Activities",
			"workspace":            e.workspaceURL(),
			"statistics":           u + "/Statistics",
		},
	}
}

func (e *Emulator) taskChannelJSON(c *taskChannel) taskChannelJSON {
	u := e.workspaceURL() + "/TaskChannels/" + c.sid
	off := false
	return taskChannelJSON{
		AccountSID: e.cfg.AccountSID, DateCreated: timestamp(c.created), DateUpdated: timestamp(c.created),
		FriendlyName: c.friendlyName, SID: c.sid, UniqueName: c.uniqueName, WorkspaceSID: e.cfg.WorkspaceSID,
		ChannelOptimizedRouting: &off, URL: u, Links: map[string]string{"workspace": e.workspaceURL()},
	}
}

// inWorkspace finds the resource of table t that {sid} names, in the
// workspace {workspace}.
func inWorkspace[T keyed](e *Emulator, t *table[T]) finder[T] {
	return func(w http.ResponseWriter, r *http.Request) (T, bool) {
		if !pathIs(w, r, "workspace", e.cfg.WorkspaceSID) {
			var none T
			return none, false
		}
		return lookup(w, r, t, r.PathValue("sid"))
	}
}

// listInWorkspace serves the list of table t under key.
func listInWorkspace[T keyed, J any](e *Emulator, t *table[T], key, path string, item func(T) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !pathIs(w, r, "workspace", e.cfg.WorkspaceSID) {
			return
		}
		if p, ok := parsePage(w, r.URL.Query(), 1000); ok {
			writePage(w, p, key, e.workspaceURL()+path, nil, t.all(), item)
		}
	}
}

// applyWorkflow applies an update's form to wf (see update): a new
// configuration must be one TaskRouter accepts.
func (e *Emulator) applyWorkflow(w http.ResponseWriter, r *http.Request, wf *workflow) bool {
	f := r.PostForm
	if v, ok := f["Configuration"]; ok {
		if _, err := e.parseWorkflowConfig(v[0]); err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Configuration: "+err.Error())
			return false
		}
		wf.configuration = v[0]
	}
	setFromForm(f, "FriendlyName", &wf.friendlyName)
	wf.updated = e.now()
	return true
}
