require ["body", "fileinto"];
if body :text :contains "50% off" { fileinto "html-text"; }
if body :text :contains "<h1>" { fileinto "html-tags"; }
if body :text :contains "color:red" { fileinto "style"; }
if body :content "text/html" :contains "<h1>Sale" { fileinto "html-raw"; }
