package managesieve

import (
	"bytes"
	"context"
	"sync"
)

// MemStore is a [Store] in memory, for tests and examples. The zero value
// is ready to use, with the default Quota. It is safe for concurrent use;
// Quota must not change once it is in use.
type MemStore struct {
	// Quota bounds each user's scripts.
	Quota Quota

	mu    sync.Mutex
	users map[string]*memUser
}

type memUser struct {
	scripts map[string][]byte
	active  string
}

var _ Store = (*MemStore)(nil)

// user returns the user's scripts, creating them if create is set. m.mu
// must be held.
func (m *MemStore) user(name string, create bool) *memUser {
	u := m.users[name]
	if u == nil && create {
		if m.users == nil {
			m.users = make(map[string]*memUser)
		}
		u = &memUser{scripts: make(map[string][]byte)}
		m.users[name] = u
	}
	return u
}

func (m *MemStore) list(u *memUser) []ScriptInfo {
	if u == nil {
		return nil
	}
	out := make([]ScriptInfo, 0, len(u.scripts))
	for name, s := range u.scripts {
		out = append(out, ScriptInfo{Name: name, Size: int64(len(s)), Active: name == u.active})
	}
	sortScripts(out)
	return out
}

// List implements Store.
func (m *MemStore) List(ctx context.Context, user string) ([]ScriptInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list(m.users[user]), nil
}

// Get implements Store.
func (m *MemStore) Get(ctx context.Context, user, name string) ([]byte, error) {
	if !ValidName(name) {
		return nil, ErrInvalidName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[user]
	if u == nil || u.scripts[name] == nil {
		return nil, ErrNoSuchScript
	}
	return bytes.Clone(u.scripts[name]), nil
}

// Put implements Store.
func (m *MemStore) Put(ctx context.Context, user, name string, script []byte) error {
	if !ValidName(name) {
		return ErrInvalidName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[user]
	if err := m.Quota.check(m.list(u), name, int64(len(script))); err != nil {
		return err
	}
	u = m.user(user, true)
	u.scripts[name] = append(make([]byte, 0, len(script)), script...)
	return nil
}

// Delete implements Store.
func (m *MemStore) Delete(ctx context.Context, user, name string) error {
	if !ValidName(name) {
		return ErrInvalidName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[user]
	switch {
	case u == nil || u.scripts[name] == nil:
		return ErrNoSuchScript
	case u.active == name:
		return ErrActiveScript
	}
	delete(u.scripts, name)
	return nil
}

// Rename implements Store.
func (m *MemStore) Rename(ctx context.Context, user, oldName, newName string) error {
	if !ValidName(oldName) || !ValidName(newName) {
		return ErrInvalidName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[user]
	switch {
	case u == nil || u.scripts[oldName] == nil:
		return ErrNoSuchScript
	case oldName == newName:
		return nil
	case u.scripts[newName] != nil:
		return ErrScriptExists
	}
	u.scripts[newName] = u.scripts[oldName]
	delete(u.scripts, oldName)
	if u.active == oldName {
		u.active = newName
	}
	return nil
}

// SetActive implements Store.
func (m *MemStore) SetActive(ctx context.Context, user, name string) error {
	if name != "" && !ValidName(name) {
		return ErrInvalidName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[user]
	if name == "" {
		if u != nil {
			u.active = ""
		}
		return nil
	}
	if u == nil || u.scripts[name] == nil {
		return ErrNoSuchScript
	}
	u.active = name
	return nil
}

// Active implements Store.
func (m *MemStore) Active(ctx context.Context, user string) (string, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[user]
	if u == nil || u.active == "" {
		return "", nil, nil
	}
	return u.active, bytes.Clone(u.scripts[u.active]), nil
}

// HaveSpace implements Store.
func (m *MemStore) HaveSpace(ctx context.Context, user, name string, size int64) error {
	if !ValidName(name) {
		return ErrInvalidName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Quota.check(m.list(m.users[user]), name, size)
}
