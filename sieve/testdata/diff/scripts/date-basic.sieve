require ["date", "fileinto", "relational"];
if date :is "date" "year" "2024" { fileinto "y2024"; }
if date :value "ge" "date" "month" "03" { fileinto "march-or-later"; }
if date :is "date" "weekday" "0" { fileinto "sunday"; }
if date :is "date" "date" "2024-03-05" { fileinto "day"; }
