require ["envelope", "fileinto"];
if envelope :is "TO" "BOB@EXAMPLE.NET" { fileinto "to-ci"; }
if envelope :comparator "i;octet" :is "to" "BOB@EXAMPLE.NET" { fileinto "to-octet"; }
