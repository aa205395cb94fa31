package agentspi

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
)

// The checks below are what every store does with a call's arguments before it reads or
// writes anything. Their errors name the call ("put: key cannot be empty", "set config of
// store \"x\": …"); a store prefixes its own ("boltstore: agent: ", its store's name).

// StoreName checks the store name given to the Provider call op ("open store", …) and returns
// it lower-cased: store names are case-insensitive.
func StoreName(op, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%s: %w", op, ErrEmptyStoreName)
	}
	return strings.ToLower(name), nil
}

// CheckConfig checks SetStoreConfig's arguments and returns the store's lower-cased name.
func CheckConfig(name string, config spi.StoreConfiguration) (string, error) {
	name, err := StoreName("set store config", name)
	if err != nil {
		return "", err
	}
	for _, tn := range config.TagNames {
		if err := CheckTagName(tn); err != nil {
			return "", fmt.Errorf("set config of store %q: %w", name, err)
		}
	}
	return name, nil
}

// CheckKey checks the key given to the Store call op ("get", "get tags", "delete").
func CheckKey(op, key string) error {
	if key == "" {
		return fmt.Errorf("%s: %w", op, ErrEmptyKey)
	}
	return nil
}

// CheckPut checks Put's arguments: a key, a value (empty, not nil) and tags the SPI allows.
func CheckPut(key string, value []byte, tags []spi.Tag) error {
	if err := CheckKey("put", key); err != nil {
		return err
	}
	if value == nil {
		return fmt.Errorf("put %q: value cannot be nil", key)
	}
	if err := CheckTags(tags); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// CheckKeys checks GetBulk's keys: at least one, none empty.
func CheckKeys(keys []string) error {
	if len(keys) == 0 {
		return errors.New("get bulk: no keys given")
	}
	if slices.Contains(keys, "") {
		return fmt.Errorf("get bulk: %w", ErrEmptyKey)
	}
	return nil
}

// CheckBatch checks Batch's operations: at least one, each with a key, and the tags of each
// put (an operation with a Value) allowed by the SPI. A store checks the whole batch before it
// applies any of it.
func CheckBatch(operations []spi.Operation) error {
	if len(operations) == 0 {
		return errors.New("batch: no operations given")
	}
	for i, op := range operations {
		if op.Key == "" {
			return fmt.Errorf("batch: operation %d: %w", i, ErrEmptyKey)
		}
		if op.Value != nil {
			if err := CheckTags(op.Tags); err != nil {
				return fmt.Errorf("batch: operation %d (%q): %w", i, op.Key, err)
			}
		}
	}
	return nil
}

// ParseQuery parses Query's expression (see Parse) and reads its options (see Options).
func ParseQuery(expression string, options []spi.QueryOption) (Query, spi.QueryOptions, error) {
	q, err := Parse(expression)
	if err != nil {
		return nil, spi.QueryOptions{}, fmt.Errorf("query: %w", err)
	}
	opts, err := Options(options)
	if err != nil {
		return nil, opts, fmt.Errorf("query %q: %w", expression, err)
	}
	return q, opts, nil
}

// Errf makes a store's errors: its prefix, then format and args as fmt.Errorf has them.
type Errf func(format string, args ...any) error

// Reader reads one record of a store: its value, which the caller may keep and change, and its
// tags; a missing key is spi.ErrDataNotFound.
type Reader func(key string) (value []byte, tags []spi.Tag, err error)

// Get is Store.Get over a store's Reader.
func Get(read Reader, errf Errf, key string) ([]byte, error) {
	value, _, err := readRecord(read, errf, "get", "get", key)
	return value, err
}

// GetTags is Store.GetTags over a store's Reader.
func GetTags(read Reader, errf Errf, key string) ([]spi.Tag, error) {
	_, tags, err := readRecord(read, errf, "get tags", "get tags of", key)
	return tags, err
}

// readRecord checks key and reads its record; its errors name the call, op without the key
// and opKey before it.
func readRecord(read Reader, errf Errf, op, opKey, key string) ([]byte, []spi.Tag, error) {
	if err := CheckKey(op, key); err != nil {
		return nil, nil, errf("%w", err)
	}
	value, tags, err := read(key)
	if err != nil {
		return nil, nil, errf("%s %q: %w", opKey, key, err)
	}
	return value, tags, nil
}
