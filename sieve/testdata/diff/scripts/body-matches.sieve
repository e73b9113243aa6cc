require ["body", "fileinto"];
if body :matches "*lunch*" { fileinto "lunch"; }
if body :is "Pizza at noon?\r\n" { fileinto "exact"; }
