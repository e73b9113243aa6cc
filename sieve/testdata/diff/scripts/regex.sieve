require ["regex", "fileinto", "variables"];
if header :regex "subject" "^\\[([a-z]+)\\]" { fileinto "list-${1}"; }
if address :regex :domain "from" "^(.+)\\.(com|org)$" { fileinto "tld-${2}"; }
if header :regex "subject" "b(u|a)dget [0-9]{4}" { fileinto "budget"; }
if header :regex :comparator "i;octet" "subject" "HELLO" { fileinto "octet-upper"; }
