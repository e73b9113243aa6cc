require ["variables", "fileinto"];
if header :matches "subject" "*: *" { fileinto "pre-${1}/post-${2}"; }
if header :matches "from" "*<*@*>" { fileinto "user-${2}-dom-${3}"; }
if address :matches :domain "from" "*.*" { fileinto "d-${1}-${2}-${0}"; }
