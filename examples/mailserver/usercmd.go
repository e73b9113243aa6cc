package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/postyard/postyard/auth"
)

// userCommand runs "adduser", "passwd" or "deluser":
//
//	mailserver adduser [-users FILE | -data DIR | -config FILE] [-no-scram] NAME
//
// The password is read from stdin: prompted for twice, without echo, on a
// terminal; otherwise the first line. The users file is FILE, else the
// config file's users_file, else DIR/users (the server's default).
func userCommand(cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mailserver "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	usersFile := fs.String("users", "", "users `file`")
	dataDir := fs.String("data", "", "data `directory` (the users file is DIR/users)")
	configFile := fs.String("config", "", "server config `file` (its users_file or data_dir)")
	noSCRAM := new(bool)
	if cmd != "deluser" {
		fs.BoolVar(noSCRAM, "no-scram", false, "store only the argon2id hash, no SCRAM-SHA-256 credentials (which are easier to brute-force; without them the user cannot log in with SCRAM)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mailserver %s [-users FILE | -data DIR | -config FILE] [-no-scram] NAME\n", cmd)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("one user name expected")
	}
	name := fs.Arg(0)
	if err := auth.CheckFileUserName(name); err != nil {
		return err
	}
	path, err := usersPath(*usersFile, *dataDir, *configFile)
	if err != nil {
		return err
	}
	if cmd == "deluser" {
		if err := auth.RemoveFileUser(path, name); errors.Is(err, auth.ErrUnknownUser) {
			return fmt.Errorf("no user %q in %s", name, path)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s from %s\n", name, path)
		return nil
	}
	password, err := readPassword(stdin, stderr, name)
	if err != nil {
		return err
	}
	u, err := auth.NewFileUser(name, password, &auth.FileUserOptions{NoSCRAM: *noSCRAM})
	if err != nil {
		return err
	}
	verb := "added"
	if cmd == "passwd" {
		verb = "changed the password of"
		err = auth.ReplaceFileUser(path, u)
	} else {
		err = auth.AddFileUser(path, u)
	}
	switch {
	case errors.Is(err, auth.ErrUnknownUser):
		return fmt.Errorf("no user %q in %s", name, path)
	case errors.Is(err, auth.ErrUserExists):
		return fmt.Errorf("user %q exists in %s (use passwd to change the password)", name, path)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "%s %s in %s\n", verb, name, path)
	return nil
}

// usersPath finds the users file from the subcommand's flags.
func usersPath(usersFile, dataDir, configFile string) (string, error) {
	if usersFile != "" {
		return usersFile, nil
	}
	if dataDir == "" && configFile != "" {
		c := defaultConfig()
		if err := loadConfigFile(configFile, &c); err != nil {
			return "", err
		}
		if c.UsersFile != "" {
			return c.UsersFile, nil
		}
		dataDir = c.DataDir
	}
	if dataDir == "" {
		return "", errors.New("which users file? give -users FILE, -data DIR or -config FILE")
	}
	return filepath.Join(dataDir, "users"), nil
}

// readPassword reads a new password: from a terminal, twice and without
// echo; from anything else, the first line.
func readPassword(stdin io.Reader, stderr io.Writer, name string) (string, error) {
	if f, ok := stdin.(*os.File); ok {
		if restore, err := noEcho(f); err == nil {
			defer restore()
			r := bufio.NewReader(f)
			fmt.Fprintf(stderr, "New password for %s: ", name)
			p1, err := readLine(r)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", err
			}
			fmt.Fprint(stderr, "Again: ")
			p2, err := readLine(r)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", err
			}
			if p1 != p2 {
				return "", errors.New("the passwords differ")
			}
			return checkPassword(p1)
		}
	}
	p, err := readLine(bufio.NewReader(stdin))
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	return checkPassword(p)
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func checkPassword(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty password")
	}
	return p, nil
}
