package emulator_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/twilio/twilio-go/client"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/hearro/trustbroker/flex/emulator"
)

// restStatus is the HTTP status of a twilio-go error (0: not a Twilio error).
func restStatus(err error) int {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return te.Status
	}
	return 0
}

// Tasks can be updated, filtered by their attributes and deleted, with
// TaskRouter's rules on assignment status changes.
func TestTaskUpdatesThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	ws := emulator.DevConfig().WorkspaceSID

	a := createChannel(t, rc.FlexV1, "hr_a", "Ann", "", `{"session":"s-a"}`)
	b := createChannel(t, rc.FlexV1, "hr_b", "Bob", "", `{"session":"s-b"}`)

	// EvaluateTaskAttributes finds a chat's task by what its attributes say.
	list, err := rc.TaskrouterV1.ListTask(ws, (&taskrouter.ListTaskParams{}).SetEvaluateTaskAttributes(`name == "Bob"`))
	if err != nil || len(list) != 1 || deref(list[0].Sid) != deref(b.TaskSid) {
		t.Fatalf("ListTask(name == Bob) = %d tasks, %v", len(list), err)
	}
	if _, err := rc.TaskrouterV1.ListTask(ws, (&taskrouter.ListTaskParams{}).SetEvaluateTaskAttributes(`name ==`)); restStatus(err) != http.StatusBadRequest {
		t.Errorf("ListTask(bad expression) err = %v, want 400", err)
	}

	// New attributes replace the old; they must be a JSON object.
	got, err := rc.TaskrouterV1.UpdateTask(ws, deref(a.TaskSid), (&taskrouter.UpdateTaskParams{}).SetAttributes(`{"name":"hr_a"}`))
	if err != nil || deref(got.Attributes) != `{"name":"hr_a"}` {
		t.Fatalf("UpdateTask(attributes) = %+v, %v", got, err)
	}
	if _, err := rc.TaskrouterV1.UpdateTask(ws, deref(a.TaskSid), (&taskrouter.UpdateTaskParams{}).SetAttributes(`[1]`)); restStatus(err) != http.StatusBadRequest {
		t.Errorf("UpdateTask(non-object attributes) err = %v, want 400", err)
	}

	// A pending task can be canceled, with a reason, not completed.
	if _, err := rc.TaskrouterV1.UpdateTask(ws, deref(a.TaskSid), (&taskrouter.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason("done")); restStatus(err) != http.StatusBadRequest {
		t.Errorf("pending → completed err = %v, want 400", err)
	}
	if _, err := rc.TaskrouterV1.UpdateTask(ws, deref(a.TaskSid), (&taskrouter.UpdateTaskParams{}).SetAssignmentStatus("canceled")); restStatus(err) != http.StatusBadRequest {
		t.Errorf("cancel without reason err = %v, want 400", err)
	}
	got, err = rc.TaskrouterV1.UpdateTask(ws, deref(a.TaskSid), (&taskrouter.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("customer left"))
	if err != nil || deref(got.AssignmentStatus) != "canceled" || deref(got.Reason) != "customer left" {
		t.Fatalf("cancel = %+v, %v", got, err)
	}

	// Deleting a task removes it.
	if err := rc.TaskrouterV1.DeleteTask(ws, deref(b.TaskSid), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.TaskrouterV1.FetchTask(ws, deref(b.TaskSid)); restStatus(err) != http.StatusNotFound {
		t.Errorf("FetchTask(deleted) err = %v, want 404", err)
	}
}

// A Conversations user's friendly name and attributes can be changed.
func TestUpdateUserThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	createChat(t, rc, "hr_cat", "Cat", "Chat with Cat", "")
	u, err := rc.ConversationsV1.UpdateUser("hr_cat", (&conversations.UpdateUserParams{}).SetFriendlyName("hr_cat").SetAttributes(`{}`))
	if err != nil || deref(u.FriendlyName) != "hr_cat" || deref(u.Attributes) != `{}` {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}
	if u, err := rc.ConversationsV1.FetchUser(deref(u.Sid)); err != nil || deref(u.FriendlyName) != "hr_cat" {
		t.Errorf("FetchUser after update = %+v, %v", u, err)
	}
	if _, err := rc.ConversationsV1.UpdateUser("hr_cat", (&conversations.UpdateUserParams{}).SetAttributes(`{`)); restStatus(err) != http.StatusBadRequest {
		t.Errorf("UpdateUser(bad attributes) err = %v, want 400", err)
	}
	if _, err := rc.ConversationsV1.UpdateUser("hr_nobody", (&conversations.UpdateUserParams{}).SetFriendlyName("x")); restStatus(err) != http.StatusNotFound {
		t.Errorf("UpdateUser(unknown) err = %v, want 404", err)
	}
}
