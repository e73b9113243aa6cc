require ["imap4flags", "fileinto"];
setflag "\\Seen";
addflag ["\\Flagged", "Work"];
removeflag "\\Seen";
if hasflag :contains "work" { fileinto "has-work"; }
if header :contains "subject" "hello" { fileinto :flags "\\Answered" "Flagged"; }
