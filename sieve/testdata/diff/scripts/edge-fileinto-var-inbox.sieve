require ["variables", "fileinto", "imap4flags"];
set "box" "inbox";
addflag "x";
fileinto "${box}";
keep :flags "y";
