package boltstore

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// SubjectIndex returns the IDs of the deliveries outbox_subject lists for subject: what
// follows subject and a 0x00 in its keys.
func SubjectIndex(db *DB, subject string) ([]string, error) {
	var ids []string
	err := db.view(func(tx *bolt.Tx) error {
		prefix := subjectKey(subject, "")
		c := tx.Bucket(bucketOutboxSubj).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		return nil
	})
	return ids, err
}
