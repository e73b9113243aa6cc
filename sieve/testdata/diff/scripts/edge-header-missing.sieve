require "fileinto";
if header :contains "x-missing" "" { fileinto "contains-empty"; }
if not header :matches "x-missing" "*" { fileinto "no-match"; }
if header :is "subject" "" { fileinto "subject-empty"; }
