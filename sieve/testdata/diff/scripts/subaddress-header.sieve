# messages: m10-subaddress.eml m01-plain.eml m02-list.eml
require ["subaddress", "fileinto", "variables"];
if address :user "to" "bob" { fileinto "user"; }
if address :detail :matches "cc" "*" { fileinto "cc-detail-${1}"; }
if address :detail "from" "shop" { fileinto "shop"; }
