require ["regex", "fileinto"];
if body :regex "(a+)+$" { fileinto "nope"; }
if header :regex "subject" "(x*)*y" { fileinto "nope2"; }
