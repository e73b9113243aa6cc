require ["envelope", "fileinto"];
if envelope :is "from" "alice@example.com" { fileinto "from-alice"; }
if envelope :domain "to" "example.net" { fileinto "to-example-net"; }
if envelope :localpart :contains "from" "bounce" { fileinto "bounces"; }
if envelope :all :matches "to" "*@*" { fileinto "any-to"; }
