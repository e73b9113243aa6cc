require ["index", "fileinto", "variables"];
if header :index 1 :matches "x-tag" "*" { fileinto "first-${1}"; }
if header :index 1 :last :matches "x-tag" "*" { fileinto "last-${1}"; }
if header :index 2 :is "x-tag" "second" { fileinto "second"; }
if header :index 9 :contains "x-tag" "" { fileinto "none"; }
if address :index 1 :is "to" "bob@example.net" { fileinto "addr-index"; }
