      ******************************************************************
      * CLIENT: a file of three kinds of 500-byte record, which
      * redefine one another (as the records of one FD do): a header,
      * then per client a type-1 record (name, birth date, education,
      * income) and a type-2 record (address).
      *
      * Written by hand for this project (tests/unit/test_realdata.py).
      * It copies no copybook: the entries were worked out from the
      * bytes of CLIENT.EBCDIC.txt and from the extract of the same
      * records in CLIENT.ASCII.txt (one line per record, fields
      * separated by '|'), both in shared/realdata/aws-mdu
      * (aws-samples/mainframe-data-utilities, Apache-2.0).
      *
      * The record type is a halfword binary at offset 4: 0 header,
      * 1 and 2 client records; a spec's discriminator reads it as the
      * numbers "0", "1" and "2".
      ******************************************************************
       01  CLIENT-HEADER.
           05  CLIENT-ID               PIC 9(9)        COMP.
           05  CLIENT-RECORD-TYPE      PIC 9(4)        COMP.
           05  CLIENT-RECORD-COUNT     PIC 9(9)        COMP.
           05  FILLER                  PIC X(490).
       01  CLIENT-DETAIL.
           05  CLIENT-ID               PIC 9(9)        COMP.
           05  CLIENT-RECORD-TYPE      PIC 9(4)        COMP.
           05  CLIENT-NAME             PIC X(30).
           05  CLIENT-BIRTH-DATE       PIC X(10).
           05  CLIENT-EDUCATION        PIC X(10).
           05  CLIENT-INCOME           PIC 9(7)V99     COMP-3.
           05  FILLER                  PIC X(439).
       01  CLIENT-ADDRESS.
           05  CLIENT-ID               PIC 9(9)        COMP.
           05  CLIENT-RECORD-TYPE      PIC 9(4)        COMP.
           05  CLIENT-ADDR-NUMBER      PIC 9(9)        COMP.
           05  CLIENT-ADDR-STREET      PIC X(30).
           05  FILLER                  PIC X(460).
