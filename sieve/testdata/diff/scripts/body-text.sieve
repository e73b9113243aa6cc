require ["body", "fileinto"];
if body :contains "invoice" { fileinto "invoice"; }
if body :text :contains "EVERYTHING" { fileinto "sale"; }
if body :contains "xyzzy" { fileinto "magic"; }
if body :contains "hello" { fileinto "hello"; }
