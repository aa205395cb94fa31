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
	status, filters, p, ok := filteredPage(w, r.URL.Query(), "AssignmentStatus", taskStatuses, 1000)
	if ok {
		all := e.tasks.where(func(t *task) bool { return matches(status, t.status) })
		writePage(w, p, "tasks", taskrouterAPI+"/Workspaces/"+e.cfg.WorkspaceSID+"/Tasks", filters, all, e.taskJSON)
	}
}

// taskOf finds the task of the request's {sid} in the workspace of
// {workspace}.
func (e *Emulator) taskOf(w http.ResponseWriter, r *http.Request) (*task, bool) {
	if !pathIs(w, r, "workspace", e.cfg.WorkspaceSID) {
		return nil, false
	}
	return lookup(w, r, &e.tasks, r.PathValue("sid"))
}
