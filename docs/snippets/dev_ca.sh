# A CA of your own: ca.pem, and ca-key.pem to sign with.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -nodes -keyout ca-key.pem -out ca.pem -days 30 \
  -subj "/CN=Development CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
# A key and a certificate request for this machine's names...
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout localhost-key.pem -out localhost.csr -subj "/CN=localhost"
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
  "authorityKeyIdentifier=keyid" >localhost.ext
# ... signed by the CA: localhost.pem.
openssl x509 -req -in localhost.csr -CA ca.pem -CAkey ca-key.pem \
  -days 30 -extfile localhost.ext -out localhost.pem
rm localhost.csr localhost.ext  # used up
