require "imap4flags";
addflag ["\\seen", "\\Seen", "foo", "FOO"];
addflag "bar foo";
