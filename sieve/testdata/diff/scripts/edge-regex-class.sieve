require ["regex", "fileinto"];
if header :regex "subject" "[[:digit:]]{2,}" { fileinto "digits"; }
if header :regex "subject" "[[:upper:]]{3}" { fileinto "caps"; }
if header :regex "subject" "(hello|budget|digest)" { fileinto "alt"; }
