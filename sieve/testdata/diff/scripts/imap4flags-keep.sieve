require "imap4flags";
addflag "$Label1";
keep :flags ["\\Deleted"];
