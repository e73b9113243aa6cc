# messages: m01-plain.eml m16-boss.eml
require "imap4flags";
if hasflag "v" "x" { discard; }
