require "reject";
if header :contains "subject" "SPAM" { reject "Go away."; }
