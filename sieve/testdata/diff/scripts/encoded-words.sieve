# messages: m04-encoded.eml m12-latin1-body.eml m01-plain.eml
require "fileinto";
if header :contains "subject" "München" { fileinto "muenchen"; }
if header :contains "subject" "Crème" { fileinto "creme"; }
if address :localpart "from" "francois" { fileinto "francois"; }
if header :contains "from" "François" { fileinto "francois-name"; }
if header :is "x-comment" "café and plain" { fileinto "comment"; }
