require ["duplicate", "fileinto"];
if duplicate { fileinto "dup"; }
