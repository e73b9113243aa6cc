package managesieve_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postyard/postyard/managesieve"
)

// forEachStore runs f as a subtest for each Store implementation, made
// with quota q.
func forEachStore(t *testing.T, q managesieve.Quota, f func(t *testing.T, st managesieve.Store)) {
	t.Run("MemStore", func(t *testing.T) { f(t, &managesieve.MemStore{Quota: q}) })
	t.Run("DirStore", func(t *testing.T) { f(t, &managesieve.DirStore{Root: t.TempDir(), Quota: q}) })
}

func TestStoreBasics(t *testing.T) {
	forEachStore(t, managesieve.Quota{}, func(t *testing.T, st managesieve.Store) {
		ctx := context.Background()
		check := func(user string, want ...string) {
			t.Helper()
			if got := scripts(t, st, user); !slices.Equal(got, want) {
				t.Fatalf("%s: store holds %q, want %q", user, got, want)
			}
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		is := func(err, want error) {
			t.Helper()
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %v", err, want)
			}
		}
		check("alice")
		if name, b, err := st.Active(ctx, "alice"); name != "" || b != nil || err != nil {
			t.Fatalf("Active of a new user: %q, %q, %v", name, b, err)
		}
		_, err := st.Get(ctx, "alice", "x")
		is(err, managesieve.ErrNoSuchScript)
		must(st.Put(ctx, "alice", "b", []byte("keep;")))
		must(st.Put(ctx, "alice", "a", []byte("discard;")))
		must(st.Put(ctx, "bob", "a", []byte("stop;")))
		check("alice", "a=discard;", "b=keep;")
		check("bob", "a=stop;")
		is(st.SetActive(ctx, "alice", "c"), managesieve.ErrNoSuchScript)
		must(st.SetActive(ctx, "alice", "b"))
		must(st.SetActive(ctx, "alice", "b"))
		check("alice", "a=discard;", "b*=keep;")
		check("bob", "a=stop;")
		name, b, err := st.Active(ctx, "alice")
		if name != "b" || string(b) != "keep;" || err != nil {
			t.Fatalf("Active: %q, %q, %v", name, b, err)
		}
		b[0] = 'X' // the caller's copy
		must(st.Put(ctx, "alice", "b", []byte("fileinto \"x\";")))
		check("alice", "a=discard;", "b*=fileinto \"x\";")

		is(st.Delete(ctx, "alice", "b"), managesieve.ErrActiveScript)
		is(st.Delete(ctx, "alice", "c"), managesieve.ErrNoSuchScript)
		is(st.Rename(ctx, "alice", "a", "b"), managesieve.ErrScriptExists)
		is(st.Rename(ctx, "alice", "c", "d"), managesieve.ErrNoSuchScript)
		must(st.Rename(ctx, "alice", "a", "a"))
		must(st.Rename(ctx, "alice", "b", "c"))
		check("alice", "a=discard;", "c*=fileinto \"x\";")
		if name, _, _ := st.Active(ctx, "alice"); name != "c" {
			t.Fatalf("active after rename: %q", name)
		}
		must(st.SetActive(ctx, "alice", ""))
		must(st.SetActive(ctx, "alice", ""))
		check("alice", "a=discard;", "c=fileinto \"x\";")
		must(st.Delete(ctx, "alice", "c"))
		must(st.Delete(ctx, "alice", "a"))
		check("alice")
		check("bob", "a=stop;")

		for _, bad := range []string{"", "a/b", "a\nb", "\xff", "e\u0301", strings.Repeat("x", managesieve.MaxNameLength+1)} {
			is(st.Put(ctx, "alice", bad, nil), managesieve.ErrInvalidName)
			_, err := st.Get(ctx, "alice", bad)
			is(err, managesieve.ErrInvalidName)
			is(st.Rename(ctx, "bob", "a", bad), managesieve.ErrInvalidName)
		}
		// Empty scripts, odd names and odd users work.
		odd := []string{".hidden", "=x", "%41", "a\\b", "..", "ümlaut ✓", strings.Repeat("€", managesieve.MaxNameLength), strings.Repeat("é", 101)}
		for _, user := range []string{".", "..", "a/b", "%2E"} {
			var want []string
			for i, n := range odd {
				must(st.Put(ctx, user, n, []byte(fmt.Sprint(i))))
				want = append(want, n+"="+fmt.Sprint(i))
			}
			must(st.Put(ctx, user, "empty", nil))
			want = append(want, "empty=")
			slices.Sort(want)
			check(user, want...)
			must(st.SetActive(ctx, user, odd[6]))
			must(st.Rename(ctx, user, odd[6], odd[7]+"y"))
			if name, b, err := st.Active(ctx, user); name != odd[7]+"y" || string(b) != "6" || err != nil {
				t.Fatalf("Active: %q, %q, %v", name, b, err)
			}
			must(st.SetActive(ctx, user, ""))
			for _, n := range append(odd[:6:6], odd[7], odd[7]+"y", "empty") {
				must(st.Delete(ctx, user, n))
			}
			check(user)
		}
		check("bob", "a=stop;")
	})
}

func TestStoreQuota(t *testing.T) {
	q := managesieve.Quota{MaxScripts: 3, MaxScriptSize: 10, MaxTotalSize: 25}
	forEachStore(t, q, func(t *testing.T, st managesieve.Store) {
		ctx := context.Background()
		ten := []byte("0123456789")
		for _, tc := range []struct {
			op   func() error
			want error
		}{
			{func() error { return st.HaveSpace(ctx, "u", "a", 11) }, managesieve.ErrScriptTooLarge},
			{func() error { return st.Put(ctx, "u", "a", append(ten, '!')) }, managesieve.ErrScriptTooLarge},
			{func() error { return st.HaveSpace(ctx, "u", "a", 10) }, nil},
			{func() error { return st.Put(ctx, "u", "a", ten) }, nil},
			{func() error { return st.Put(ctx, "u", "b", ten) }, nil},
			{func() error { return st.HaveSpace(ctx, "u", "c", 6) }, managesieve.ErrQuotaExceeded},
			{func() error { return st.Put(ctx, "u", "c", ten[:6]) }, managesieve.ErrQuotaExceeded},
			{func() error { return st.Put(ctx, "u", "c", ten[:5]) }, nil},
			{func() error { return st.HaveSpace(ctx, "u", "d", 0) }, managesieve.ErrTooManyScripts},
			{func() error { return st.Put(ctx, "u", "d", nil) }, managesieve.ErrTooManyScripts},
			// Replacing a script counts its new size only.
			{func() error { return st.HaveSpace(ctx, "u", "a", 10) }, nil},
			{func() error { return st.Put(ctx, "u", "c", ten[:5]) }, nil},
			{func() error { return st.Delete(ctx, "u", "c") }, nil},
			{func() error { return st.Put(ctx, "u", "d", ten[:5]) }, nil},
			// Other users have their own quota.
			{func() error { return st.Put(ctx, "v", "a", ten) }, nil},
		} {
			if err := tc.op(); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("step got %v, want %v", err, tc.want)
			}
		}
		if got := scripts(t, st, "u"); len(got) != 3 {
			t.Fatalf("store holds %q", got)
		}
	})
}

// TestStoreConcurrent: concurrent puts, renames and reads of one user
// keep the store consistent (run with -race).
func TestStoreConcurrent(t *testing.T) {
	forEachStore(t, managesieve.Quota{}, func(t *testing.T, st managesieve.Store) {
		ctx := context.Background()
		if err := st.Put(ctx, "u", "main", []byte("keep;")); err != nil {
			t.Fatal(err)
		}
		if err := st.SetActive(ctx, "u", "main"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				for j := range 20 {
					st.Put(ctx, "u", "main", []byte(fmt.Sprintf("# %d %d\r\nkeep;", i, j)))
					st.Put(ctx, "u", fmt.Sprint("s", i), []byte("keep;"))
					st.Rename(ctx, "u", fmt.Sprint("s", i), fmt.Sprint("t", i))
					st.Delete(ctx, "u", fmt.Sprint("t", i))
				}
			})
		}
		wg.Go(func() {
			for range 100 {
				name, b, err := st.Active(ctx, "u")
				if err != nil || name != "main" || !strings.HasSuffix(string(b), "keep;") {
					t.Errorf("Active: %q, %q, %v", name, b, err)
					return
				}
			}
		})
		wg.Wait()
		if got := scripts(t, st, "u"); len(got) != 1 || !strings.HasPrefix(got[0], "main*=") {
			t.Fatalf("store holds %q", got)
		}
	})
}

// TestDirStoreLayout: the files are where the documentation says, and
// leftovers of an interrupted operation are ignored and cleaned up.
func TestDirStoreLayout(t *testing.T) {
	root := t.TempDir()
	st := &managesieve.DirStore{Root: root}
	ctx := context.Background()
	long := strings.Repeat("ñ", 101)
	for _, n := range []string{"vacation", ".dot", long} {
		if err := st.Put(ctx, ".alice/x", n, []byte("keep;")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetActive(ctx, ".alice/x", "vacation"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "%2Ealice%2Fx")
	b, err := os.ReadFile(filepath.Join(dir, "vacation.sieve"))
	if err != nil || string(b) != "keep;" {
		t.Fatalf("vacation.sieve: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "active")); err != nil || string(b) != "vacation" {
		t.Fatalf("active: %q, %v", b, err)
	}
	names := func() []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	hashed := 0
	for _, n := range names() {
		if strings.HasPrefix(n, "=") {
			hashed++
		}
	}
	if hashed != 4 {
		t.Fatalf("files %q, want two hashed scripts with their names", names())
	}
	// What a crash leaves: a temporary file, a name without its script, a
	// script file under a name the store would not use, an active file
	// naming a script that is gone.
	for name, content := range map[string]string{
		".tmp-0123":   "half a scr",
		"=00.name":    "orphan",
		"=01.sieve":   "no name file",
		"x\x01.sieve": "bad name",
		"sub.sieve/":  "",
	} {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			os.Mkdir(p, 0o700)
			continue
		}
		os.WriteFile(p, []byte(content), 0o600)
	}
	want := []string{".dot=keep;", "vacation*=keep;", long + "=keep;"}
	if got := scripts(t, st, ".alice/x"); !slices.Equal(got, want) {
		t.Fatalf("store holds %q, want %q", got, want)
	}
	for _, n := range names() {
		if n == ".tmp-0123" || n == "=00.name" {
			t.Errorf("leftover %s not removed", n)
		}
	}
	os.Remove(filepath.Join(dir, "vacation.sieve"))
	if name, b, err := st.Active(ctx, ".alice/x"); name != "" || b != nil || err != nil {
		t.Fatalf("Active with the script gone: %q, %q, %v", name, b, err)
	}
	// A store without Root fails, and does not write to the working
	// directory.
	if err := (&managesieve.DirStore{}).Put(ctx, "u", "a", nil); err == nil {
		t.Fatal("Put without Root succeeded")
	}
}
