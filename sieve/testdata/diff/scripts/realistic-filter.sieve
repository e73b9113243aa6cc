require ["fileinto", "imap4flags", "variables", "envelope", "relational", "comparator-i;ascii-numeric", "spamtest", "mailbox", "copy"];
# Spam first.
if anyof (spamtest :value "ge" :comparator "i;ascii-numeric" "6", header :contains "subject" "***SPAM***") {
  fileinto :create "Junk";
  stop;
}
# Boss mail is flagged.
if address :is "from" "boss@example.com" {
  addflag "\\Flagged";
}
# Lists by List-Id.
if header :matches "list-id" "*<*.lists.example.org>" {
  fileinto :create "Lists/${2}";
  stop;
}
if header :contains "subject" "invoice" {
  fileinto :copy "Receipts";
}
