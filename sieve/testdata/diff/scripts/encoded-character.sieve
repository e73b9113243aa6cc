require ["encoded-character", "fileinto"];
if header :contains "subject" "${hex:48 65}llo" { fileinto "hex"; }
if header :contains "subject" "${unicode:FC}" { fileinto "unicode"; }
if header :contains "subject" "${hex:zz}" { fileinto "badhex"; }
