require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "lists" { fileinto "detail-lists"; }
if envelope :user "to" "bob" { fileinto "user-bob"; }
if envelope :detail "from" "" { fileinto "empty-detail"; }
if envelope :detail :matches "from" "*" { fileinto "any-detail"; }
