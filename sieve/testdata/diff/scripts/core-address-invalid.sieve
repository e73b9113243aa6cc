# messages: m18-odd-addr.eml m07-spam.eml m03-multi-to.eml m13-minimal.eml
if address :contains "from" "not-valid" { redirect "raw@example.net"; }
if address :domain :contains "from" "valid" { redirect "dom@example.net"; }
if address :all :contains "cc" "text" { redirect "cc@example.net"; }
if address :matches "to" "*" { redirect "any@example.net"; }
