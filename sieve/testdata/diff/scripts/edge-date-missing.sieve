require ["date", "fileinto"];
if date :matches "date" "year" "*" { fileinto "has-date"; }
if not date :matches "x-nodate" "year" "*" { fileinto "no-xdate"; }
if date :matches "subject" "year" "*" { fileinto "subject-date"; }
