package managesieve

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// DirStore is a [Store] in a directory tree, one directory per user:
//
//	<Root>/<user>/<name>.sieve   a script, as uploaded
//	<Root>/<user>/active         the name of the active script
//
// The user's directory name is the user name with "%", "/", "\" and
// control characters percent-encoded, and a leading "." too, so it never
// starts with a dot. A script whose name is longer than 200 octets, or
// starts with "." or "=", is stored as "=<hash>.sieve" beside
// "=<hash>.name", which holds its name: file names are limited to 255
// octets, script names to 128 characters of up to 4 octets. Files whose
// names start with "." are temporary files of an operation in progress.
//
// Every change is crash-safe and durable when the method returns: files
// are written beside their final name, fsynced, renamed into place, and
// the directory fsynced. After a crash each script is either the old or
// the new version, and "active" names a script that exists or, for a
// script renamed or deleted at the moment of the crash, none. Renaming the
// active script links the new name first, then moves "active", then
// removes the old name, so delivery always finds it.
//
// The zero value is not usable: set Root. Root and the user directories
// are created when needed. A DirStore is safe for concurrent use by the
// goroutines of one process; two processes must not use the same Root at
// once. Quota must not change once it is in use.
type DirStore struct {
	// Root is the directory holding the users' directories. Required.
	Root string
	// Quota bounds each user's scripts.
	Quota Quota

	locks [64]sync.Mutex // by hash of the user name
}

var _ Store = (*DirStore)(nil)

const (
	scriptExt   = ".sieve"
	nameExt     = ".name"
	activeFile  = "active"
	tmpPrefix   = ".tmp-"
	maxFileName = 200 // longest script name stored under its own name
)

// lock locks user's directory and returns the unlock function.
func (d *DirStore) lock(user string) func() {
	h := fnv.New32a()
	h.Write([]byte(user))
	mu := &d.locks[h.Sum32()%uint32(len(d.locks))]
	mu.Lock()
	return mu.Unlock
}

// userDir returns user's directory, or an error for a user name that
// cannot be one.
func (d *DirStore) userDir(user string) (string, error) {
	if d.Root == "" {
		return "", errors.New("managesieve: DirStore.Root is not set")
	}
	var b strings.Builder
	for i := 0; i < len(user); i++ {
		c := user[i]
		if c < ' ' || c == 0x7f || c == '%' || c == '/' || c == '\\' || (i == 0 && c == '.') {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	name := b.String()
	if name == "" || len(name) > 255 {
		return "", fmt.Errorf("managesieve: user name %q cannot be a directory name", user)
	}
	return filepath.Join(d.Root, name), nil
}

// fileBase returns the file name of a script, without extension, and
// whether its name is kept in a ".name" file.
func fileBase(name string) (base string, hashed bool) {
	if len(name) <= maxFileName && name[0] != '.' && name[0] != '=' {
		return name, false
	}
	sum := sha256.Sum256([]byte(name))
	return "=" + hex.EncodeToString(sum[:20]), true
}

// List implements Store. It also removes what an interrupted operation
// left behind: temporary files and ".name" files without their script.
func (d *DirStore) List(ctx context.Context, user string) ([]ScriptInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := d.userDir(user)
	if err != nil {
		return nil, err
	}
	defer d.lock(user)()
	return d.list(dir, true)
}

// list reads the scripts in dir. With clean, it removes leftovers.
func (d *DirStore) list(dir string, clean bool) ([]ScriptInfo, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	active, err := readActive(dir)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(ents))
	for _, e := range ents {
		have[e.Name()] = true
	}
	var out []ScriptInfo
	for _, e := range ents {
		fn := e.Name()
		switch {
		case strings.HasPrefix(fn, "."):
			if clean && strings.HasPrefix(fn, tmpPrefix) {
				os.Remove(filepath.Join(dir, fn))
			}
			continue
		case strings.HasSuffix(fn, nameExt) && strings.HasPrefix(fn, "="):
			if clean && !have[strings.TrimSuffix(fn, nameExt)+scriptExt] {
				os.Remove(filepath.Join(dir, fn))
			}
			continue
		case !strings.HasSuffix(fn, scriptExt) || !e.Type().IsRegular():
			continue
		}
		base := strings.TrimSuffix(fn, scriptExt)
		name := base
		if strings.HasPrefix(base, "=") {
			b, err := os.ReadFile(filepath.Join(dir, base+nameExt))
			if err != nil {
				continue // not yet or no longer a script
			}
			name = string(b)
		}
		if !ValidName(name) {
			continue
		}
		if b, _ := fileBase(name); b != base {
			continue // a file put there by hand, under a name we would not use
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		out = append(out, ScriptInfo{Name: name, Size: info.Size(), Active: name == active})
	}
	sortScripts(out)
	return out, nil
}

// readActive returns the name in dir's active file; "" if there is none.
func readActive(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, activeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if name := string(b); ValidName(name) {
		return name, nil
	}
	return "", nil
}

// exists reports whether the script is stored in dir.
func exists(dir, name string) (bool, error) {
	base, _ := fileBase(name)
	_, err := os.Stat(filepath.Join(dir, base+scriptExt))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// Get implements Store.
func (d *DirStore) Get(ctx context.Context, user, name string) ([]byte, error) {
	dir, err := d.prepare(ctx, user, name)
	if err != nil {
		return nil, err
	}
	defer d.lock(user)()
	return readScript(dir, name)
}

func readScript(dir, name string) ([]byte, error) {
	base, _ := fileBase(name)
	b, err := os.ReadFile(filepath.Join(dir, base+scriptExt))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoSuchScript
	}
	return b, err
}

// prepare checks ctx and the name, and returns the user's directory.
func (d *DirStore) prepare(ctx context.Context, user, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !ValidName(name) {
		return "", ErrInvalidName
	}
	return d.userDir(user)
}

// Put implements Store.
func (d *DirStore) Put(ctx context.Context, user, name string, script []byte) error {
	dir, err := d.prepare(ctx, user, name)
	if err != nil {
		return err
	}
	defer d.lock(user)()
	scripts, err := d.list(dir, false)
	if err != nil {
		return err
	}
	if err := d.Quota.check(scripts, name, int64(len(script))); err != nil {
		return err
	}
	if err := d.mkdir(dir); err != nil {
		return err
	}
	base, hashed := fileBase(name)
	if hashed {
		if err := writeFile(dir, base+nameExt, []byte(name), false); err != nil {
			return err
		}
	}
	return writeFile(dir, base+scriptExt, script, true)
}

// mkdir creates the user's directory and makes its entry durable.
func (d *DirStore) mkdir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// writeFile replaces dir/name with data crash-safely: it writes a
// temporary file, fsyncs it and renames it into place, then fsyncs dir if
// sync is set.
func writeFile(dir, name string, data []byte, sync bool) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if sync {
		return syncDir(dir)
	}
	return nil
}

// syncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// remove removes the script's files from dir (not syncing dir).
func remove(dir, name string) error {
	base, hashed := fileBase(name)
	if err := os.Remove(filepath.Join(dir, base+scriptExt)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ErrNoSuchScript
		}
		return err
	}
	if hashed {
		os.Remove(filepath.Join(dir, base+nameExt))
	}
	return nil
}

// Delete implements Store.
func (d *DirStore) Delete(ctx context.Context, user, name string) error {
	dir, err := d.prepare(ctx, user, name)
	if err != nil {
		return err
	}
	defer d.lock(user)()
	active, err := readActive(dir)
	if err != nil {
		return err
	}
	if active == name {
		if ok, err := exists(dir, name); err != nil || ok {
			if err != nil {
				return err
			}
			return ErrActiveScript
		}
	}
	if err := remove(dir, name); err != nil {
		return err
	}
	return syncDir(dir)
}

// Rename implements Store.
func (d *DirStore) Rename(ctx context.Context, user, oldName, newName string) error {
	dir, err := d.prepare(ctx, user, oldName)
	if err != nil {
		return err
	}
	if !ValidName(newName) {
		return ErrInvalidName
	}
	defer d.lock(user)()
	switch ok, err := exists(dir, oldName); {
	case err != nil:
		return err
	case !ok:
		return ErrNoSuchScript
	case oldName == newName:
		return nil
	}
	switch ok, err := exists(dir, newName); {
	case err != nil:
		return err
	case ok:
		return ErrScriptExists
	}
	oldBase, _ := fileBase(oldName)
	newBase, hashed := fileBase(newName)
	if hashed {
		if err := writeFile(dir, newBase+nameExt, []byte(newName), false); err != nil {
			return err
		}
	}
	// Link the new name first, so that the script exists under one name
	// or both at every moment.
	oldPath, newPath := filepath.Join(dir, oldBase+scriptExt), filepath.Join(dir, newBase+scriptExt)
	if err := os.Link(oldPath, newPath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrScriptExists
		}
		// A file system without hard links: copy.
		b, rerr := os.ReadFile(oldPath)
		if rerr != nil {
			return rerr
		}
		if err := writeFile(dir, newBase+scriptExt, b, false); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	active, err := readActive(dir)
	if err != nil {
		return err
	}
	if active == oldName {
		if err := writeFile(dir, activeFile, []byte(newName), true); err != nil {
			return err
		}
	}
	if err := remove(dir, oldName); err != nil {
		return err
	}
	return syncDir(dir)
}

// SetActive implements Store.
func (d *DirStore) SetActive(ctx context.Context, user, name string) error {
	if name == "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir, err := d.userDir(user)
		if err != nil {
			return err
		}
		defer d.lock(user)()
		err = os.Remove(filepath.Join(dir, activeFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		}
		return syncDir(dir)
	}
	dir, err := d.prepare(ctx, user, name)
	if err != nil {
		return err
	}
	defer d.lock(user)()
	switch ok, err := exists(dir, name); {
	case err != nil:
		return err
	case !ok:
		return ErrNoSuchScript
	}
	if cur, err := readActive(dir); err == nil && cur == name {
		return nil
	}
	return writeFile(dir, activeFile, []byte(name), true)
}

// Active implements Store.
func (d *DirStore) Active(ctx context.Context, user string) (string, []byte, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	dir, err := d.userDir(user)
	if err != nil {
		return "", nil, err
	}
	defer d.lock(user)()
	name, err := readActive(dir)
	if err != nil || name == "" {
		return "", nil, err
	}
	script, err := readScript(dir, name)
	if errors.Is(err, ErrNoSuchScript) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return name, script, nil
}

// HaveSpace implements Store.
func (d *DirStore) HaveSpace(ctx context.Context, user, name string, size int64) error {
	dir, err := d.prepare(ctx, user, name)
	if err != nil {
		return err
	}
	defer d.lock(user)()
	scripts, err := d.list(dir, false)
	if err != nil {
		return err
	}
	return d.Quota.check(scripts, name, size)
}
