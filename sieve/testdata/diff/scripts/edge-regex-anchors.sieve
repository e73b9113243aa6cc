require ["regex", "fileinto", "variables"];
if header :regex "subject" "^[A-Z][a-z]+ " { fileinto "starts-${0}"; }
if header :regex "subject" "[0-9]+$" { fileinto "ends-${0}"; }
if header :regex "from" "([a-z]+)@([a-z.]+)" { fileinto "addr-${1}-${2}"; }
if header :regex "subject" "^$" { fileinto "empty"; }
