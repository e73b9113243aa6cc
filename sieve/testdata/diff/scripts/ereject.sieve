# messages: m01-plain.eml m07-spam.eml
require "ereject";
if header :contains "subject" "SPAM" { ereject "Go away."; }
