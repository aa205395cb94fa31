package emulator

import (
	"encoding/json"
	"log"
	"net/http"
)

// newTask creates the pending task a legacy Flex Flow offers agents for a
// new chat, through the workspace's workflow on the chat task channel; e.mu
// must be held.
func (e *Emulator) newTask(attrs map[string]any) *task {
	return e.createTask(attrs, e.cfg.WorkflowSID, e.taskChannels.withSID(e.taskChannelSID))
}

// createTask creates a pending task with attrs on channel ch, routed by
// workflow workflowSID (see routeTask); e.mu must be held.
func (e *Emulator) createTask(attrs map[string]any, workflowSID string, ch *taskChannel) *task {
	raw, _ := json.Marshal(attrs)
	now := e.now()
	t := &task{sid: newSID("WT"), attributes: string(raw), status: "pending", workflowSID: workflowSID,
		channelSID: ch.sid, created: now, updated: now}
	if err := e.routeTask(t); err != nil {
		log.Printf("twilio emulator: task %s: routing: %v", t.sid, err)
	}
	e.tasks.add(t)
	return t
}

// endTask ends the task of a chat that closed: completed when an agent had
// it, canceled when none had; e.mu must be held.
func (e *Emulator) endTask(t *task) {
	if t == nil {
		return
	}
	switch t.status {
	case "assigned", "wrapping", "reserved":
		t.status, t.reason = "completed", "chat closed"
	case "pending":
		t.status, t.reason = "canceled", "chat closed"
	default:
		return
	}
	t.updated = e.now()
}

// assignTask marks t taken by the agent; e.mu must be held.
func (e *Emulator) assignTask(t *task) {
	if t != nil && (t.status == "pending" || t.status == "reserved") {
		t.status = "assigned"
		t.updated = e.now()
	}
}

var taskStatuses = map[string]bool{"pending": true, "reserved": true, "assigned": true, "canceled": true, "completed": true, "wrapping": true}

func (e *Emulator) listTasks(w http.ResponseWriter, r *http.Request) {
	if !pathIs(w, r, "workspace", e.cfg.WorkspaceSID) {
		return
	}
	q := r.URL.Query()
	status, filters, p, ok := filteredPage(w, q, "AssignmentStatus", taskStatuses, 1000)
	if !ok {
		return
	}
	expr := q.Get("EvaluateTaskAttributes")
	var cond exprNode
	if expr != "" {
		var err error
		if cond, err = parseExpr(expr); err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid EvaluateTaskAttributes: "+err.Error())
			return
		}
		filters.Set("EvaluateTaskAttributes", expr)
	}
	all := e.tasks.where(func(t *task) bool { return matches(status, t.status) && taskMatches(cond, t) })
	writePage(w, p, "tasks", taskrouterAPI+"/Workspaces/"+e.cfg.WorkspaceSID+"/Tasks", filters, all, e.taskJSON)
}

// taskOf finds the task of the request's {sid} in the workspace of
// {workspace}.
func (e *Emulator) taskOf(w http.ResponseWriter, r *http.Request) (*task, bool) {
	if !pathIs(w, r, "workspace", e.cfg.WorkspaceSID) {
		return nil, false
	}
	return lookup(w, r, &e.tasks, r.PathValue("sid"))
}

// taskTransitions are the assignment statuses an update may move a task to,
// from each status, as TaskRouter allows them: a task not yet accepted can
// only be canceled; an accepted one wraps up and completes.
var taskTransitions = map[string]map[string]bool{
	"pending":  {"canceled": true},
	"reserved": {"canceled": true},
	"assigned": {"wrapping": true, "completed": true, "canceled": true},
	"wrapping": {"completed": true},
}

// applyTask applies an UpdateTask form to t (see update): new attributes
// must be a JSON object; a new assignment status must be a transition
// TaskRouter allows, with the Reason it requires for canceled and completed.
func (e *Emulator) applyTask(w http.ResponseWriter, r *http.Request, t *task) bool {
	f := r.PostForm
	if v, ok := f["Attributes"]; ok {
		var obj map[string]any
		if json.Unmarshal([]byte(v[0]), &obj) != nil || obj == nil {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Attributes: must be a JSON object")
			return false
		}
	}
	status := f.Get("AssignmentStatus")
	if status != "" && status != t.status {
		if !taskStatuses[status] {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid AssignmentStatus: "+status)
			return false
		}
		if !taskTransitions[t.status][status] {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Task cannot move from "+t.status+" to "+status)
			return false
		}
		if (status == "canceled" || status == "completed") && f.Get("Reason") == "" {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Reason is required to move a task to "+status)
			return false
		}
	}
	setFromForm(f, "Attributes", &t.attributes)
	if status != "" && status != t.status {
		t.status = status
		t.reason = f.Get("Reason")
	}
	t.updated = e.now()
	return true
}

// deleteTask removes the task of the request; TaskRouter answers 204.
func (e *Emulator) deleteTask(w http.ResponseWriter, r *http.Request) {
	t, ok := e.taskOf(w, r)
	if !ok {
		return
	}
	e.tasks.remove(t)
	w.WriteHeader(http.StatusNoContent)
}

// taskMatches reports whether t's attributes satisfy a ListTask
// EvaluateTaskAttributes condition (nil: every task). A condition that cannot
// be evaluated on a task's attributes does not match it.
func taskMatches(cond exprNode, t *task) bool {
	if cond == nil {
		return true
	}
	var attrs map[string]any
	if json.Unmarshal([]byte(t.attributes), &attrs) != nil {
		return false
	}
	v, err := cond.eval(attrs)
	b, ok := v.(bool)
	return err == nil && ok && b
}
